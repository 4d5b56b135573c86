"""The notify block of the inventory schema (issue 17): recipients need an address, secrets by reference."""

import pytest
from pydantic import ValidationError

from netprobe.inventory.model import InventoryFile, Recipient


def test_notify_block_parses_with_references() -> None:
    f = InventoryFile.model_validate(
        {
            "notify": {
                "zalo": {
                    "app_id": "123",
                    "secret_key": "${ZALO_SECRET}",
                    "access_token": "file:/etc/netprobe/zalo.token",
                    "refresh_token": "${ZALO_REFRESH}",
                },
                "duty": [{"name": "Trực ban", "zalo_user_id": "4242", "days": [1, 2, 3]}],
                "communes": {"kinh-bac": [{"name": "Cán bộ CNTT", "email": "it@example.vn"}]},
            }
        }
    )
    assert f.notify is not None and f.notify.zalo is not None
    assert f.notify.zalo.secret_key.env == "ZALO_SECRET"
    assert f.notify.settings.repeat_h == 4.0


def test_recipient_without_address_is_refused() -> None:
    with pytest.raises(ValidationError, match="no address"):
        Recipient.model_validate({"name": "x"})


def test_plaintext_zalo_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="plaintext secrets are refused"):
        InventoryFile.model_validate(
            {"notify": {"zalo": {"app_id": "1", "secret_key": "abc", "access_token": "${A}", "refresh_token": "${B}"}}}
        )


def test_loader_keeps_notify_and_refuses_unknown_names(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netprobe.inventory.errors import InventoryError
    from netprobe.inventory.loader import load_inventory

    base = "province: {slug: bac-ninh, name: Bắc Ninh}\ncommunes: [{slug: kinh-bac, name: Phường Kinh Bắc}]\n"
    good = base + (
        "notify:\n  webhooks: {ops: {url: 'https://127.0.0.1:9/hook'}}\n  duty: [{name: Trực ban, webhook: ops}]\n"
    )
    (tmp_path / "a.yaml").write_text(good, encoding="utf-8")
    inv = load_inventory(tmp_path)
    assert inv.notify is not None and inv.notify.duty[0].webhook == "ops"
    bad = base + "notify:\n  communes: {kinh-bak: [{name: x, webhook: nope}]}\n"
    (tmp_path / "a.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(InventoryError) as err:
        load_inventory(tmp_path)
    text = str(err.value)
    assert "notify.communes.kinh-bak" in text and "unknown webhook 'nope'" in text
