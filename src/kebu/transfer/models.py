from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kebu.core.fields import EncryptedTextField
from kebu.core.models import Job


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    ORDERS = "orders", _("Orders")
    PRODUCTS = "products", _("Products")
    REVIEWS = "reviews", _("Reviews")


class ImportMode(models.TextChoices):
    GOOD_ROWS = "good_rows", _("Import the good rows, report the others")
    ALL_OR_NOTHING = "all", _("All or nothing")


class Import(models.Model):
    """One file brought in: where it is kept, how its columns were read, how far the import got, and
    what it did. Its rows' changes are in ``ImportRow``, which is what undo reads."""

    job = models.OneToOneField(
        Job, on_delete=models.PROTECT, related_name="import_run", verbose_name=_("job")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ImportKind.choices)
    mode = models.CharField(
        _("mode"), max_length=10, choices=ImportMode.choices, default=ImportMode.GOOD_ROWS
    )
    file_name = models.CharField(
        _("file"), max_length=255, help_text=_("As it was uploaded; shown, never opened.")
    )
    stored_as = models.CharField(
        max_length=64, editable=False, help_text="A generated name under the data directory."
    )
    file_size = models.PositiveBigIntegerField(_("size"), default=0)
    file_sha256 = models.CharField(max_length=64, editable=False)
    sheet = models.CharField(_("sheet"), max_length=100, blank=True)
    headers = models.JSONField(_("header"), default=list)
    mapping = models.JSONField(_("columns"), default=dict, help_text="Column index (as text) -> field key.")
    # What the kind needs beyond the file: an order import's store when the file names none ({"store": id}).
    options = models.JSONField(default=dict, blank=True)
    next_row = models.PositiveIntegerField(
        _("next row"),
        default=0,
        help_text=_("Rows numbered below this one are done (where a resumed import goes on)."),
    )
    checked = models.BooleanField(default=False, editable=False)
    created = models.PositiveIntegerField(_("created"), default=0)
    updated = models.PositiveIntegerField(_("updated"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    noted = models.PositiveIntegerField(
        _("imported with notes"),
        default=0,
        help_text=_(
            "Rows imported without some of their cells (a buyer's detail Kebu could not take), or left as "
            "they were with a note (a paid order an export reports closed)."
        ),
    )
    corrected = models.PositiveIntegerField(
        _("corrected cells"),
        default=0,
        help_text=_(
            "Cells of the rows imported that were taken otherwise than written: a phone without its +86, "
            "a date written 2024年1月5日, an amount with its ¥ sign."
        ),
    )
    # The first of them (transfer.corrections.CORRECTIONS_KEPT), JSON [[row, column, written, taken,
    # reason], …], encrypted as the journal is: a corrected cell may be a phone or an address.
    corrections = EncryptedTextField(blank=True, editable=False)
    refused = models.BooleanField(
        _("refused"), default=False, help_text=_("All or nothing, and some row was bad: nothing was written.")
    )
    made_aside = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text=(
            "What the import made besides its rows, model label -> ids ({'customers.tag': [3, 4]}): the "
            "tags, categories and brands its rows named that the shop did not have. After undo, only "
            "the ones undo kept because something used them by then (transfer.aside)."
        ),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("by")
    )
    created_at = models.DateTimeField(_("started at"), auto_now_add=True)
    undone_at = models.DateTimeField(_("undone at"), null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-pk"]
        # Importing matches rows against every customer of the shop, visible to the importer or not
        # (it changes only those they may see and change, as by hand): an admin's permission.
        permissions = [("import_customers", _("Can import customers from a spreadsheet"))]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name}"

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected


class ImportRowAction(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    REJECTED = "rejected", _("Rejected")
    UNCHANGED = "unchanged", _("Unchanged")  # only with a note: a row that changed nothing is only counted


class ImportRow(models.Model):
    """What one row of an imported file did. Rows that changed nothing are only counted, unless there
    is something to tell about them (``UNCHANGED`` with a note: a paid order an export reports closed).

    ``detail`` is JSON, encrypted because it holds contact details: for an update, the values before
    and the ids of the rows it added (``{"before": …, "added": …}``, what undo reads), and, for a
    customer's, what the row made of the fields it changed and the values of the rows it added, and how
    it found the customer (``"after"``, ``"matched_by"``: what the import's page lists, ``changes``;
    an older Kebu wrote neither); for a rejection, the problems, each
    with the row its cell is on, and the last of its rows when it has several (an order's lines, from
    ``row`` to ``last_row``: ``{"problems": [[column, value, reason, row], …], "last_row": n}``; an older
    Kebu wrote ``[column, value, reason]``, on ``row``, and no ``last_row``: ``rejection_read`` reads
    both); for a note, what was left out and why (``{"left_out": [[column, value, reason], …]}``)."""

    run = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="journal")
    row = models.PositiveIntegerField(_("row"))
    action = models.CharField(_("action"), max_length=10, choices=ImportRowAction.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The customer's version this row left."
    )
    detail = EncryptedTextField(blank=True)
    # Imported, but without some cells (``detail["left_out"]``), or left as it was with a note:
    # listed on the import's page.
    noted = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("imported row")
        verbose_name_plural = _("imported rows")
        constraints = [models.UniqueConstraint(fields=["run", "row"], name="transfer_importrow_once")]
        # The customer's own foreign-key index serves "which imports touched this customer".
        indexes = [
            models.Index(fields=["run", "row"], name="transfer_importrow_noted", condition=Q(noted=True)),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.row} {self.action}"

    @classmethod
    def rejection(cls, run: Import, rows: Sequence[int], problems: Iterable[Any]) -> ImportRow:
        """The journal's row for what the import refused, kept under the first of its ``rows`` (an
        order's lines; a customer's row alone): its problems (anything with row, column, value, reason),
        and its last row, so that the report gives the merchant every row of it to import again."""
        in_order = sorted(problems, key=lambda p: p.row)  # as the merchant reads them, a row at a time
        data: dict[str, Any] = {"problems": [[p.column, p.value, p.reason, p.row] for p in in_order]}
        if rows[-1] != rows[0]:
            data["last_row"] = rows[-1]
        return cls(
            run=run, row=rows[0], action=ImportRowAction.REJECTED, detail=json.dumps(data, ensure_ascii=False)
        )

    def rejection_read(self) -> tuple[range, list[tuple[int, str, str, str]]]:
        """A rejection's rows (the entry's to its last: an order's lines) and its problems as (row,
        column, value, reason), each on the row its cell is on. One journalled by an older Kebu, which
        kept neither, is its entry's row alone, every problem on it (an order's first row, whatever line
        the cell was on)."""
        detail = json.loads(self.detail)
        problems = [
            (int(rest[0]) if rest else self.row, column, value, reason)
            for column, value, reason, *rest in detail["problems"]
        ]
        return range(self.row, detail.get("last_row", self.row) + 1), problems


class UndoneVersion(models.Model):
    """The version an import's undo gave a customer or order it put back, and the one the import had
    found it at (``transfer.versions``). Undo moves the version on rather than back, so that no version
    names two states; these rows are how an earlier import's undo still knows the row as the one it
    left."""

    run = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="versions_undone")
    model = models.CharField(max_length=50, help_text="The row's model, as its label: customers.customer.")
    object_id = models.PositiveBigIntegerField()
    version_before = models.PositiveIntegerField(help_text="The row's version when the import found it.")
    version_undone = models.PositiveIntegerField(help_text="The new version undo gave it.")

    class Meta:
        indexes = [models.Index(fields=["model", "object_id"], name="transfer_undoneversion_row")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.model}:{self.object_id} {self.version_before}->{self.version_undone}"


class MappingPreset(models.Model):
    """Which column feeds which field, saved under a name for the next file laid out the same way (a
    marketplace's export, the shop's own template). Kept by header words, not by position; a file whose
    header is the same as the one the preset was saved from gets it chosen for it."""

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=20, choices=ImportKind.choices, default=ImportKind.CUSTOMERS
    )
    headers = models.JSONField(
        _("header"), default=list, help_text=_("The header of the file the preset was saved from.")
    )
    headers_signature = models.CharField(
        max_length=64,
        editable=False,
        help_text="SHA-256 of that header as compared (headers.header_key): equal for the same columns.",
    )
    mapping = models.JSONField(
        _("columns"), default=dict, help_text="Header (as compared, headers.header_key) -> field key."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("column mapping preset")
        verbose_name_plural = _("column mapping presets")
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "headers_signature"], name="transfer_preset_signature")]
        # A customer preset and an order preset may share a name ("淘宝"): one never replaces the other.
        constraints = [models.UniqueConstraint(fields=["kind", "name"], name="transfer_preset_unique_name")]

    def __str__(self) -> str:
        return self.name
