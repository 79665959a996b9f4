"""The import pages' forms: the upload, and the columns (which field each column feeds) with the mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.customers.models import CustomField, SocialKind
from kebu.transfer.customers import CUSTOM_PREFIX
from kebu.transfer.models import ImportMode

ACCEPT = ".xlsx,.xls,.ods,.csv,.txt"

# The fields a customer sheet's column can feed, as the import reads them (transfer.customers), in the
# order a merchant looks for them. A column headers.CUSTOMER_HEADERS recognises as a field not listed
# here is offered as skipped, with a note.
CUSTOMER_FIELDS: list[tuple[str, Any]] = [
    ("name", gettext_lazy("Name")),
    ("phone", gettext_lazy("Phone")),
    ("customer_no", gettext_lazy("Customer number")),
    ("wechat", SocialKind.WECHAT.label),
    ("qq", SocialKind.QQ.label),
    ("wangwang", SocialKind.TAOBAO.label),
    ("douyin", SocialKind.DOUYIN.label),
    ("xiaohongshu", SocialKind.XIAOHONGSHU.label),
    ("email", gettext_lazy("Email")),
    ("gender", gettext_lazy("Gender")),
    ("birthday", gettext_lazy("Birthday")),
    ("province", gettext_lazy("Province")),
    ("city", gettext_lazy("City")),
    ("district", gettext_lazy("District")),
    ("address", gettext_lazy("Street address")),
    ("customer_type", gettext_lazy("Customer type")),
    ("stage", gettext_lazy("Lifecycle stage")),
    ("source", gettext_lazy("Source")),
    ("tags", gettext_lazy("Tags")),
    ("owner", gettext_lazy("Owner")),
    ("notes", gettext_lazy("Notes")),
]


def import_max_bytes() -> int:
    return int(cast(int, settings.KEBU["IMPORT_MAX_MB"])) * 1024 * 1024


def field_choices(definitions: Sequence[CustomField]) -> list[tuple[str, Any]]:
    """Every field a column may feed: Kebu's own, then the shop's active custom fields."""
    return CUSTOMER_FIELDS + [(CUSTOM_PREFIX + d.key, d.label) for d in definitions]


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Spreadsheet"),
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT, "class": "form-control"}),
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("Rows with problems"),
        choices=ImportMode.choices,
        initial=ImportMode.GOOD_ROWS,
        widget=forms.RadioSelect,
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = import_max_bytes()
        if upload.size > limit:
            # The reader's own words for a file too big, so it reads the same wherever it is refused.
            raise forms.ValidationError(
                _("The file is %(size)s MB; at most %(max)s MB can be imported. Split it into several files.")
                % {"size": upload.size // (1024 * 1024), "max": limit // (1024 * 1024)}
            )
        return upload


class MappingForm(forms.Form):
    """One choice per column of the file (``col_<index>``: a field key, or blank to skip the column), the
    mode, and a name for saving the choice as a preset."""

    mode = forms.ChoiceField(
        label=gettext_lazy("Rows with problems"), choices=ImportMode.choices, widget=forms.RadioSelect
    )
    preset_name = forms.CharField(label=gettext_lazy("Preset name"), max_length=100, required=False)

    def __init__(
        self, *args: Any, headers: Sequence[str], choices: list[tuple[str, Any]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.headers = list(headers)
        options = [("", gettext_lazy("— skip —")), *choices]
        self.labels = dict(options)
        for index, header in enumerate(self.headers):
            self.fields[f"col_{index}"] = forms.ChoiceField(
                label=header,
                choices=options,
                required=False,
                widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
            )

    @property
    def columns(self) -> list[tuple[int, str, forms.BoundField]]:
        return [(index, header, self[f"col_{index}"]) for index, header in enumerate(self.headers)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        seen: dict[str, str] = {}
        for index, header in enumerate(self.headers):
            key = cleaned.get(f"col_{index}")
            if not key:
                continue
            if key in seen:
                self.add_error(
                    f"col_{index}",
                    _("“%(first)s” already feeds %(field)s; a field takes one column.")
                    % {"first": seen[key], "field": self.labels.get(key, key)},
                )
            else:
                seen[key] = header
        return cleaned

    def mapping(self) -> dict[int, str]:
        """Column index -> field key, for the columns not skipped (valid forms only)."""
        return {
            index: key for index in range(len(self.headers)) if (key := self.cleaned_data.get(f"col_{index}"))
        }
