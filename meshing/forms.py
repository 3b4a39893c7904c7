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


class MeshUploadForm(forms.Form):
    """One file makes a single mesh job; several (or a batch name) make a batch."""

    files = MultipleFileField(label="CAD files (STEP, IGES, STL, BREP)")
    batch_name = forms.CharField(max_length=200, required=False, help_text="Give a name to group the files as a batch")
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
