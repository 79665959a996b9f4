"""The shop's settings for customer profiles: tags, source channels and custom fields, edited by an admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from kebu.customers.models import CustomField, CustomFieldType, SavedView, SourceChannel, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "color")
    search_fields = ("name",)


@admin.register(SourceChannel)
class SourceChannelAdmin(admin.ModelAdmin):
    list_display = ("name", "position", "is_active")
    list_editable = ("position", "is_active")


class CustomFieldForm(forms.ModelForm):
    choices_text = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("One choice per line, for single and multiple choice fields."),
    )

    class Meta:
        model = CustomField
        fields = ("key", "label", "field_type", "required", "help_text", "position", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["choices_text"].initial = "\n".join(self.instance.choices or [])
        if self.instance.pk:
            # Values are stored under the key: changing it would orphan every stored value.
            self.fields["key"].disabled = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        choices = [line.strip() for line in cleaned.get("choices_text", "").splitlines() if line.strip()]
        if cleaned.get("field_type") in (CustomFieldType.CHOICE, CustomFieldType.MULTI) and not choices:
            self.add_error("choices_text", _("A choice field needs at least one choice."))
        self.instance.choices = list(dict.fromkeys(choices))
        return cleaned


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    form = CustomFieldForm
    list_display = ("label", "key", "field_type", "required", "position", "is_active")
    list_editable = ("position", "is_active")
    fields = ("key", "label", "field_type", "choices_text", "required", "help_text", "position", "is_active")


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "shared", "query")
    list_filter = ("shared",)
