from django import forms


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class SearchForm(forms.Form):
    q = forms.CharField(label="Query", max_length=1000)
    dataset = forms.TypedChoiceField(label="Dataset", coerce=int, required=False, empty_value=None)

    def __init__(self, *args, datasets=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = [("", "All datasets")] + [(d.pk, d.name) for d in datasets]
