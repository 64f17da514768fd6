from django import forms

from .models import Document


class SearchForm(forms.Form):
    """The search page's query, filters and score threshold (all optional)."""

    q = forms.CharField(label="Search", required=False, max_length=500)
    category = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *Document.Status.choices]
    )
    threshold = forms.FloatField(
        label="Minimum score",
        required=False,
        min_value=-1.0,
        max_value=1.0,
        help_text="Cosine similarity, from -1 to 1.",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=50,
        widget=forms.NumberInput(attrs={"placeholder": "10"}),
    )

    def __init__(self, *args, categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "Any category")] + [(c, c) for c in categories]

    def vector_filter(self) -> dict | None:
        """The chosen category and status as a portable vectra filter."""
        chosen = {k: self.cleaned_data[k] for k in ("category", "status") if self.cleaned_data[k]}
        return chosen or None
