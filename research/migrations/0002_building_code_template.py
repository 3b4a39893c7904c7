"""Ships the seed's building-code check: thirteen sections researched one after another."""
from django.db import migrations

TEMPLATE_NAME = "Building code check"
DESCRIPTION = (
    "A pre-design building-code and zoning check for one property. The subject is its street address; "
    "each of the thirteen sections is researched in turn and saved as soon as it is done."
)
SECTIONS = [
    (
        "Property and jurisdiction",
        "Identify the property at {subject}: parcel or lot number where public, the municipality and county, "
        "the authority having jurisdiction for building permits, and which building code edition (for example "
        "the IBC/IRC year and any state or local amendments) that jurisdiction has adopted.",
    ),
    (
        "Zoning district and permitted uses",
        "Determine the zoning district of {subject} and any overlay districts. List the uses permitted by right, "
        "the uses that need a conditional or special permit, and whether the current use appears conforming.",
    ),
    (
        "Setbacks, height and lot coverage",
        "For {subject}, state the dimensional zoning standards that apply: front, side and rear setbacks, maximum "
        "building height and stories, floor area ratio, lot coverage and minimum lot size, citing the ordinance.",
    ),
    (
        "Occupancy classification and construction type",
        "For the building at {subject}, give the likely occupancy classification(s) under the adopted building "
        "code, the construction type, and the allowable height and area that follow from them.",
    ),
    (
        "Permit and inspection history",
        "Summarise the known building permit, certificate of occupancy and inspection history of {subject}, "
        "including open permits or code violations on public record, and where that record can be checked.",
    ),
    (
        "Structural, seismic and wind loads",
        "List the structural design criteria for {subject}: seismic design category, basic wind speed and exposure, "
        "ground snow load and frost depth, with the code sections and maps they come from.",
    ),
    (
        "Fire safety",
        "Describe the fire-safety requirements for the building at {subject}: fire-resistance ratings, fire "
        "separation distances, sprinkler and fire-alarm requirements, and fire department access and hydrants.",
    ),
    (
        "Means of egress",
        "State the means-of-egress requirements for {subject}: occupant load, number and separation of exits, "
        "travel distance limits, corridor and stair widths, and emergency lighting and exit signs.",
    ),
    (
        "Accessibility",
        "Describe the accessibility requirements that apply to {subject} (ADA and the adopted accessibility "
        "standard such as ICC A117.1): accessible route, entrances, parking, restrooms, and triggers on alteration.",
    ),
    (
        "Energy code",
        "Identify the energy code in force for {subject} (IECC edition or ASHRAE 90.1, plus local amendments), "
        "its climate zone, and the envelope, lighting and mechanical requirements most likely to matter.",
    ),
    (
        "Plumbing, mechanical and electrical",
        "Summarise the plumbing, mechanical and electrical codes adopted for {subject} (for example IPC, IMC, NEC "
        "editions), minimum plumbing fixture counts, ventilation requirements and notable local amendments.",
    ),
    (
        "Flood, environmental and historic constraints",
        "Check {subject} for constraints beyond the building code: FEMA flood zone and base flood elevation, "
        "wetlands or environmental overlays, historic district or landmark status, and easements.",
    ),
    (
        "Summary and next steps",
        "Summarise the building-code and zoning findings for {subject} as a checklist: the main constraints, the "
        "open questions to confirm with the authority having jurisdiction, and the permits likely to be needed.",
    ),
]


def create_template(apps, schema_editor):
    ResearchTemplate = apps.get_model("research", "ResearchTemplate")
    TemplateSection = apps.get_model("research", "TemplateSection")
    template, created = ResearchTemplate.objects.get_or_create(
        name=TEMPLATE_NAME, defaults={"description": DESCRIPTION}
    )
    if not created:
        return
    TemplateSection.objects.bulk_create(
        TemplateSection(template=template, position=position, title=title, prompt=prompt)
        for position, (title, prompt) in enumerate(SECTIONS, start=1)
    )


def remove_template(apps, schema_editor):
    ResearchTemplate = apps.get_model("research", "ResearchTemplate")
    ResearchTemplate.objects.filter(name=TEMPLATE_NAME, jobs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("research", "0001_initial")]

    operations = [migrations.RunPython(create_template, remove_template)]
