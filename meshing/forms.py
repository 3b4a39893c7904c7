from django import forms

from meshing.compute import ALGORITHMS_3D


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".step,.stp,.iges,.igs,.stl,.brep,.brp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class MeshParamsForm(forms.Form):
    """The quality parameters of a full mesh."""

    target_size = forms.FloatField(required=False, min_value=1e-9, help_text="Element size in model units")
    target_elements = forms.IntegerField(required=False, min_value=1, help_text="Used when no size is given")
    order = forms.TypedChoiceField(choices=[(1, "1 (linear)"), (2, "2 (quadratic)")], coerce=int, initial=1)
    algorithm = forms.ChoiceField(
        choices=[("sweep", "Sweep every strategy")] + [(name, name) for name in ALGORITHMS_3D], initial="sweep"
    )
    time_budget = forms.IntegerField(required=False, min_value=1, max_value=3600, help_text="Seconds for the whole sweep")

    PARAM_FIELDS = ("target_size", "target_elements", "order", "algorithm", "time_budget")

    def params(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in self.PARAM_FIELDS}


class MeshUploadForm(MeshParamsForm):
    """One file makes a single mesh job; several (or a batch name) make a batch."""

    files = MultipleFileField(label="CAD files (STEP, IGES, STL, BREP)")
    batch_name = forms.CharField(max_length=200, required=False, help_text="Give a name to group the files as a batch")
    preview_only = forms.BooleanField(
        required=False, label="Preview only", help_text="Free: look at the preview, then start the full mesh from its page"
    )

    field_order = ["files", "batch_name", "preview_only", *MeshParamsForm.PARAM_FIELDS]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("preview_only") and (len(cleaned.get("files") or []) > 1 or cleaned.get("batch_name")):
            raise forms.ValidationError("Preview only is for a single file; a batch is meshed in full.")
        return cleaned


def form_for_params(params: dict) -> MeshParamsForm:
    """The parameters form filled with a mesh job's current parameters."""
    return MeshParamsForm(initial={name: params.get(name) for name in MeshParamsForm.PARAM_FIELDS})
