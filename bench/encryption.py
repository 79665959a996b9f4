"""What encrypting personal data costs: the same pages on encrypted columns and on plain ones.

    .venv/bin/python bench/encryption.py [--customers 100000] [--repeat 40]

It builds (or reuses) the demo database of ``bench/customers_list.py`` — the product as shipped,
phones, emails, addresses and handles encrypted, searched through keyed blind indexes — and a twin
of it with every encrypted column decrypted in place and every lookup column holding the plain
normalised value (E.164 phone, last four digits, folded email), as Kebu stored them before
encryption. Each is measured in a child process; the plain one runs with the field's decrypt/encrypt
and the HMAC lookups switched off. Printed: p50/p95 ms of full requests as a colleague who sees
contact details, and the overhead of encryption on p95 (target: at most 20 %).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customers_list as base

TARGET_OVERHEAD = 0.20


def _plain_twin(encrypted_dir: Path) -> Path:
    """A copy of the encrypted database with plain columns and plain lookups (built once)."""
    twin = encrypted_dir.with_name(encrypted_dir.name + "-plain")
    done = twin / "bench-complete"
    source_done = json.loads((encrypted_dir / "bench-complete").read_text())
    if done.exists() and json.loads(done.read_text()) == source_done:
        return twin
    if twin.exists():
        shutil.rmtree(twin)
    print(f"Building the plain-column twin in {twin} …", flush=True)
    shutil.copytree(encrypted_dir, twin, ignore=shutil.ignore_patterns("*-wal", "*-shm", "static", "bench"))
    env = {**os.environ, "KEBU_DATA_DIR": str(twin)}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, __file__, "--decrypt-twin"], env=env, check=True)  # noqa: S603
    done.write_text(json.dumps(source_done))
    return twin


def _decrypt_twin() -> None:
    """In the twin's own process (its KEBU_DATA_DIR): rewrite every encrypted value in the clear."""
    _django()
    from django.conf import settings

    from kebu.core import crypto
    from kebu.core.fields import encrypted_fields
    from kebu.core.text import fold

    ring = crypto.keyring()
    db = sqlite3.connect(settings.DATABASES["default"]["NAME"])
    for model, fields in encrypted_fields():
        table = model._meta.db_table
        names = [f.column for f in fields]
        contexts = [crypto.context_of(model, f.name) for f in fields]
        rows = db.execute(f"SELECT id, {', '.join(names)} FROM {table}").fetchall()
        plain = [
            [ring.decrypt(v, context=c) if v else v for v, c in zip(values, contexts, strict=True)] + [row_id]
            for row_id, *values in rows
        ]
        db.executemany(f"UPDATE {table} SET {', '.join(n + ' = ?' for n in names)} WHERE id = ?", plain)
    db.executemany(
        "UPDATE customers_customerphone SET number_lookup = ?, last4_lookup = ? WHERE id = ?",
        [(n, n[-4:], i) for i, n in db.execute("SELECT id, number FROM customers_customerphone")],
    )
    db.executemany(
        "UPDATE customers_customer SET email_lookup = ? WHERE id = ?",
        [(fold(e), i) for i, e in db.execute("SELECT id, email FROM customers_customer WHERE email <> ''")],
    )
    db.executemany(
        "UPDATE customers_socialaccount SET handle_lookup = ? WHERE id = ?",
        [(fold(h), i) for i, h in db.execute("SELECT id, handle FROM customers_socialaccount")],
    )
    db.commit()
    db.execute("VACUUM")
    db.close()


def _django() -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
    sys.path.insert(0, str(base.ROOT / "src"))
    import django

    django.setup()


def _switch_encryption_off() -> None:
    """The plain twin: fields pass values through, lookups store the normalised value itself."""
    from django.db import models

    from kebu.core import lookup
    from kebu.core.fields import EncryptedTextField
    from kebu.core.text import fold
    from kebu.customers import filters, services

    EncryptedTextField.from_db_value = lambda self, value, expression, connection: value  # type: ignore[method-assign]
    EncryptedTextField.get_prep_value = models.TextField.get_prep_value  # type: ignore[method-assign]
    plain = {
        "phone_lookup": lambda e164: e164,
        "phone_last4_lookup": lambda digits: digits[-4:],
        "text_lookup": fold,
    }
    for module in (lookup, filters, services):
        for name, function in plain.items():
            if hasattr(module, name):
                setattr(module, name, function)


def _measure(repeat: int, plain: bool) -> dict[str, Any]:
    _django()
    if plain:
        _switch_encryption_off()
    from django.conf import settings
    from django.urls import reverse

    from kebu.customers.models import Customer

    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = base.bench_client(base.bench_user())
    top = Customer.objects.order_by("-id").values_list("id", flat=True).first() or 0
    sample = (
        Customer.objects.filter(id__lte=top // 2, archived_at__isnull=True)
        .exclude(primary_phone="")
        .order_by("-id")
        .values("id", "primary_phone")
        .first()
    )
    if sample is None:
        raise SystemExit("no customers to measure")
    national = sample["primary_phone"].removeprefix("+86")
    list_url = reverse("customers:list")
    scenarios = [
        ("list, first page", list_url),
        ("list, page 200", f"{list_url}?page=200"),
        (f"search exact phone {national[:3]}…", f"{list_url}?q={national}"),
        (f"search phone last 4 {national[-4:]}", f"{list_url}?q={national[-4:]}"),
        ("customer page", reverse("customers:detail", args=[sample["id"]])),
    ]
    rows = []
    for title, url in scenarios:

        def request(url: str = url) -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        rows.append({"title": title, "stats": base._timed(request, repeat, warmup=3)})
        page = client.get(url).content.decode().replace(" ", "").replace("\u00a0", "")
        rows[-1]["shows_phone"] = national in page  # both variants must really decrypt and show it
    return {"plain": plain, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--decrypt-twin", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=["encrypted", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decrypt_twin:
        _decrypt_twin()
        return
    if args.measure:
        print("RESULT " + json.dumps(_measure(args.repeat, args.measure == "plain"), ensure_ascii=False))
        return

    data_root = os.environ.get("KEBU_DATA_DIR")
    root = Path(data_root) / "bench" if data_root else Path(tempfile.gettempdir()) / "kebu-bench"
    encrypted_dir = base._ensure_database(root, args.customers, args.seed, orders=0)
    plain_dir = _plain_twin(encrypted_dir)
    results = {}
    for variant, data_dir in (("encrypted", encrypted_dir), ("plain", plain_dir)):
        print(f"Measuring {variant} columns, {args.customers:,} customers …", flush=True)
        env = {**os.environ, "KEBU_DATA_DIR": str(data_dir)}
        env.pop("DATABASE_URL", None)
        completed = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--measure", variant, "--repeat", str(args.repeat)],
            env=env,
            check=False,
            capture_output=True,
            text=True,
        )
        if completed.returncode:
            raise SystemExit(f"measuring {variant} failed:\n{completed.stderr[-3000:]}")
        line = next(x for x in completed.stdout.splitlines() if x.startswith("RESULT "))
        results[variant] = json.loads(line.removeprefix("RESULT "))

    print(f"\nEncryption overhead, {args.customers:,} customers, SQLite, {args.repeat} requests each (ms)")
    print(
        f"{'page':36} | {'plain p50':>9} {'p95':>7} | {'encrypted p50':>13} {'p95':>7} | {'p95 overhead':>12}"
    )
    worst = 0.0
    for plain_row, enc_row in zip(results["plain"]["rows"], results["encrypted"]["rows"], strict=True):
        p, e = plain_row["stats"], enc_row["stats"]
        overhead = e["p95"] / p["p95"] - 1
        worst = max(worst, overhead)
        shown = "  (shows the sample's phone)" if plain_row["shows_phone"] and enc_row["shows_phone"] else ""
        print(
            f"{enc_row['title'][:36]:36} | {p['p50']:9.1f} {p['p95']:7.1f} | "
            f"{e['p50']:13.1f} {e['p95']:7.1f} | {overhead:+11.1%}{shown}"
        )
    verdict = "within" if worst <= TARGET_OVERHEAD else "OVER"
    print(f"worst p95 overhead {worst:+.1%}: {verdict} the {TARGET_OVERHEAD:.0%} target")
    base.RESULTS.mkdir(parents=True, exist_ok=True)
    (base.RESULTS / "encryption-latest.json").write_text(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
