"""Writes the demo documents shipped in portal/demo/ (run once; the outputs are committed).

    python portal/demo/generate.py

Everything is written from scratch here (no outside files): Markdown and HTML as
text, the PDF with datasets.samples.make_pdf (hand-assembled PDF 1.4 with real text
objects), the DOCX with python-docx (installed with Docling).
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from datasets.samples import make_pdf  # noqa: E402

MARKDOWN = """# Heat pump maintenance guide

Air-source heat pumps move heat instead of making it. This guide covers the
checks a technician runs twice a year.

## Filters

Clean or replace the indoor filters every three months. A clogged filter cuts
airflow and raises the compressor's discharge temperature.

## Outdoor unit

- Keep 60 cm of clearance around the coil.
- Remove leaves and snow from the fan grille.
- Check that the condensate drains freely in winter.

## Refrigerant

Only certified technicians may open the refrigerant circuit. A low charge shows
as ice on the evaporator and a falling coefficient of performance.
"""

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Solar panel cleaning</title></head>
<body>
<h1>Solar panel cleaning</h1>
<p>Dust and pollen reduce the output of photovoltaic panels by up to seven percent a year
in dry climates. Rain cleans steep panels; flat ones need washing.</p>
<h2>When to clean</h2>
<ul>
  <li>After a dry season or a sandstorm.</li>
  <li>When monitoring shows output below the expected irradiance curve.</li>
</ul>
<h2>How to clean</h2>
<p>Use deionised water and a soft brush early in the morning, when the glass is cool.
Never use a pressure washer: it can break the seals of the junction box.</p>
<table>
  <tr><th>Site</th><th>Interval</th></tr>
  <tr><td>Desert</td><td>monthly</td></tr>
  <tr><td>Temperate</td><td>yearly</td></tr>
</table>
</body></html>
"""

PDF_PAGES = [
    [
        "Wind turbine inspection report",
        "",
        "Site: North ridge, turbine 7. Rated power 3.6 MW.",
        "The gearbox oil sample shows normal particle counts.",
        "Blade two has leading edge erosion near the tip.",
    ],
    [
        "Recommendations",
        "",
        "Repair the leading edge of blade two before winter.",
        "Replace the yaw brake pads at the next service visit.",
        "Inspect the tower bolts again in six months.",
    ],
]

DOCX_PARAGRAPHS = [
    ("Battery storage safety checklist", "Title"),
    ("Lithium-ion battery rooms need ventilation, fire detection and clear labels.", None),
    ("Before commissioning", "Heading 1"),
    ("Confirm that the battery management system reports every cell voltage.", None),
    ("Test the emergency stop and the fire suppression interlock.", None),
    ("Every month", "Heading 1"),
    ("Read the thermal camera log and look for cells warmer than their neighbours.", None),
]


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    for text, style in DOCX_PARAGRAPHS:
        document.add_paragraph(text, style=style) if style else document.add_paragraph(text)
    document.core_properties.title = "Battery storage safety checklist"
    document.save(path)


def main() -> None:
    (HERE / "heat-pump-maintenance.md").write_text(MARKDOWN)
    (HERE / "solar-panel-cleaning.html").write_text(HTML)
    (HERE / "wind-turbine-inspection.pdf").write_bytes(make_pdf(PDF_PAGES, font_size=12, leading=16, left=72, top=720))
    write_docx(HERE / "battery-storage-safety.docx")


if __name__ == "__main__":
    main()
