"""The CRM and Bigin account the emulator's bulk writes land in: modules, their fields, and the records kept.

Zoho checks a bulk write against the org's own metadata: the module must exist, every mapped field must be
one of its fields, an insert must carry every ``system_mandatory`` field, and ``find_by`` must be ``id`` or a
unique field.  This account holds that metadata (a default with Zoho's standard modules, and modules a test
or demo declares) and answers Zoho's metadata APIs from it:

- ``GET /crm/v8/settings/modules`` and ``GET /crm/v8/settings/fields?module=...``
  (https://www.zoho.com/crm/developer/docs/api/v8/module-meta.html,
  https://www.zoho.com/crm/developer/docs/api/v8/field-meta.html);
- ``GET /bigin/v2/settings/modules`` and ``GET /bigin/v2/settings/fields?module=...``
  (https://www.bigin.com/developer/docs/apis/v2/modules-api.html,
  https://www.bigin.com/developer/docs/apis/v2/field-meta.html).

Only the keys this emulator's clients read are sure (``api_name``, ``data_type``, ``system_mandatory``,
``unique``, ``field_label``; ``api_name``, ``module_name``, ``plural_label``, ``api_supported``); the others
follow Zoho's samples and are *unverified* in their details (ids, ``json_type``, the shape of ``unique``).

Records written by bulk writes are kept per product and module with their ids, so that an update by ``id``
or an upsert by a unique field finds them afterwards; each carries Zoho's own ``Created_Time`` and
``Modified_Time`` (ISO 8601 with an offset, the records API's form,
https://www.zoho.com/crm/developer/docs/api/v8/get-records.html), stamped on insert and update, which a bulk
read's criteria filter on (:mod:`airflow_provider_zoho.testing.bulk_read`).  Independent of the provider code
on purpose.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PRODUCTS", "TIMESTAMPS", "Account", "Field", "Module", "default_modules", "iso_time"]

PRODUCTS = ("crm", "bigin")

# Zoho's data types (field-meta.html, "data_type") and the JSON type each is sent as (*unverified* mapping).
DATA_TYPES: dict[str, str] = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "multiselectpicklist": "jsonarray",
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "decimal": "double",
    "percent": "double",
    "boolean": "boolean",
    "date": "string",
    "datetime": "string",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "autonumber": "string",
    # Types a bulk read cannot export (FIELD_NOT_SUPPORTED, https://www.zoho.com/crm/developer/docs/api/v8/
    # bulk-read/limitations.html: subforms, multi-select lookups, file and image uploads; *unverified* list).
    "subform": "jsonarray",
    "multiselectlookup": "jsonarray",
    "fileupload": "jsonarray",
    "imageupload": "jsonarray",
}
#: Zoho's timestamps, which it writes itself on insert and update (field-meta.html: read-only datetime fields).
TIMESTAMPS = ("Created_Time", "Modified_Time")


def iso_time(epoch: float) -> str:
    """Return an instant as Zoho writes a datetime: ISO 8601 to the second with its offset (UTC here).

    :param epoch: seconds since the epoch.
    :return: e.g. ``2026-01-02T03:04:05+00:00``.
    """
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a module, as Zoho's fields API describes it.

    :param api_name: the field's API name (``Last_Name``).
    :param data_type: Zoho's data type (``text``, ``email``, ``lookup``...).
    :param system_mandatory: a record cannot be created without it (the fields API's ``system_mandatory``).
    :param unique: Zoho refuses two records with the same value (a duplicate check field).
    :param label: the field's label; default the API name with spaces.
    :param read_only: written by Zoho itself (``Created_Time``).
    :param lookup: for a lookup, the module it points at.
    """

    api_name: str
    data_type: str = "text"
    system_mandatory: bool = False
    unique: bool = False
    label: str = ""
    read_only: bool = False
    lookup: str | None = None

    @classmethod
    def from_json(cls, payload: Any) -> Field:
        """Read a field from the admin API's form: ``{"api_name": "Email", "data_type": "email", "unique": true}``.

        :param payload: a field object, or a bare API name for a text field.
        :return: the field.
        :raises ValueError: an unknown key or data type, or no API name.
        """
        if isinstance(payload, str):
            payload = {"api_name": payload}
        if not isinstance(payload, Mapping):
            raise ValueError(f"a field is an object or an API name, got {payload!r}")
        known = {"api_name", "data_type", "system_mandatory", "unique", "field_label", "read_only", "lookup"}
        if unknown := set(payload) - known:
            raise ValueError(f"a field takes {sorted(known)}, not {sorted(unknown)}")
        name = payload.get("api_name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a field needs an api_name, got {payload!r}")
        data_type = str(payload.get("data_type", "text"))
        if data_type not in DATA_TYPES:
            raise ValueError(f"field {name}: data_type must be one of {sorted(DATA_TYPES)}, got {data_type!r}")
        return cls(
            api_name=name,
            data_type=data_type,
            system_mandatory=bool(payload.get("system_mandatory", False)),
            unique=bool(payload.get("unique", False)),
            label=str(payload.get("field_label") or ""),
            read_only=bool(payload.get("read_only", False)),
            lookup=str(payload["lookup"]) if payload.get("lookup") else None,
        )

    def to_json(self, field_id: str) -> dict[str, Any]:
        """Describe the field as Zoho's fields API does.

        :param field_id: the id to show.
        :return: the field object.
        """
        label = self.label or self.api_name.replace("_", " ")
        body: dict[str, Any] = {
            "api_name": self.api_name,
            "field_label": label,
            "display_label": label,
            "data_type": self.data_type,
            "json_type": DATA_TYPES[self.data_type],
            "system_mandatory": self.system_mandatory,
            # *unverified*: Zoho's samples show an object for a unique field; an empty one reads as "not unique".
            "unique": {"casesensitive": False} if self.unique else {},
            "read_only": self.read_only,
            "custom_field": False,
            "visible": True,
            "id": field_id,
        }
        if self.lookup:
            body["lookup"] = {"module": {"api_name": self.lookup}}
        return body


@dataclass(frozen=True, slots=True)
class Module:
    """One module of an account, with its fields.

    :param api_name: the module's API name (``Contacts``; Bigin's deals are ``Pipelines``).
    :param fields: its fields.
    :param plural_label: its plural label; default the API name.
    :param singular_label: its singular label; default the API name without a final ``s``.
    :param custom: declared by a test (``generated_type`` ``custom``) rather than one of Zoho's own.
    """

    api_name: str
    fields: tuple[Field, ...]
    plural_label: str = ""
    singular_label: str = ""
    custom: bool = False

    @classmethod
    def from_json(cls, payload: Any) -> Module:
        """Read a module from the admin API's form: ``{"api_name": "Vendors", "fields": [...]}``.

        :param payload: the module object.
        :return: the module.
        :raises ValueError: an unknown key, no API name, no fields or a field named twice.
        """
        if not isinstance(payload, Mapping):
            raise ValueError(f"a module is an object, got {payload!r}")
        known = {"api_name", "fields", "plural_label", "singular_label"}
        if unknown := set(payload) - known:
            raise ValueError(f"a module takes {sorted(known)}, not {sorted(unknown)}")
        name = payload.get("api_name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a module needs an api_name, got {payload!r}")
        raw = payload.get("fields")
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"module {name}: fields must be a non-empty list")
        fields = tuple(Field.from_json(item) for item in raw)
        if len({f.api_name for f in fields}) != len(fields):
            raise ValueError(f"module {name}: a field is named twice")
        return cls(
            name,
            fields,
            str(payload.get("plural_label") or ""),
            str(payload.get("singular_label") or ""),
            custom=True,
        )

    def field(self, api_name: str) -> Field | None:
        """Return the field with this API name, or None."""
        return next((f for f in self.fields if f.api_name == api_name), None)

    @property
    def mandatory(self) -> tuple[str, ...]:
        """The API names of its ``system_mandatory`` fields."""
        return tuple(f.api_name for f in self.fields if f.system_mandatory)

    def to_json(self, module_id: str) -> dict[str, Any]:
        """Describe the module as Zoho's modules API does.

        :param module_id: the id to show.
        :return: the module object.
        """
        plural = self.plural_label or self.api_name.replace("_", " ")
        singular = self.singular_label or (plural[:-1] if plural.endswith("s") else plural)
        return {
            "api_name": self.api_name,
            "module_name": self.api_name,
            "plural_label": plural,
            "singular_label": singular,
            "api_supported": True,
            "generated_type": "custom" if self.custom else "default",
            "creatable": True,
            "editable": True,
            "deletable": True,
            "viewable": True,
            "visible": True,
            "status": "visible",
            "id": module_id,
        }


def _fields(*specs: str | Field) -> tuple[Field, ...]:
    """Fields from API names (text fields) or Field objects; an ``Owner`` and Zoho's timestamps are added."""
    given = tuple(Field(spec) if isinstance(spec, str) else spec for spec in specs)
    return (
        Field("Owner", "ownerlookup", lookup="users"),
        *given,
        Field("Created_Time", "datetime", read_only=True),
        Field("Modified_Time", "datetime", read_only=True),
    )


def _crm_modules() -> tuple[Module, ...]:
    """Zoho CRM's standard modules with their usual standard fields (a subset of what a real org shows)."""
    mandatory_last_name = Field("Last_Name", system_mandatory=True)
    email = Field("Email", "email", unique=True)
    return (
        Module(
            "Leads",
            _fields(
                "First_Name",
                mandatory_last_name,
                "Company",
                email,
                Field("Phone", "phone"),
                Field("Mobile", "phone"),
                "Title",
                Field("Lead_Source", "picklist"),
                Field("Lead_Status", "picklist"),
                Field("Industry", "picklist"),
                Field("Annual_Revenue", "currency"),
                Field("No_of_Employees", "integer"),
                Field("Website", "website"),
                "Street",
                "City",
                "State",
                "Zip_Code",
                "Country",
                Field("Description", "textarea"),
                Field("Email_Opt_Out", "boolean"),
            ),
        ),
        Module(
            "Contacts",
            _fields(
                Field("Salutation", "picklist"),
                "First_Name",
                mandatory_last_name,
                email,
                Field("Secondary_Email", "email"),
                Field("Phone", "phone"),
                Field("Mobile", "phone"),
                "Title",
                "Department",
                Field("Account_Name", "lookup", lookup="Accounts"),
                Field("Lead_Source", "picklist"),
                Field("Date_of_Birth", "date"),
                "Mailing_Street",
                "Mailing_City",
                "Mailing_State",
                "Mailing_Zip",
                "Mailing_Country",
                Field("Description", "textarea"),
                Field("Email_Opt_Out", "boolean"),
            ),
        ),
        Module(
            "Accounts",
            _fields(
                Field("Account_Name", system_mandatory=True),
                "Account_Number",
                Field("Account_Type", "picklist"),
                Field("Industry", "picklist"),
                Field("Annual_Revenue", "currency"),
                Field("Employees", "integer"),
                Field("Phone", "phone"),
                Field("Website", "website"),
                "Billing_Street",
                "Billing_City",
                "Billing_State",
                "Billing_Code",
                "Billing_Country",
                Field("Description", "textarea"),
            ),
        ),
        Module(
            "Deals",
            _fields(
                Field("Deal_Name", system_mandatory=True),
                Field("Stage", "picklist", system_mandatory=True),
                Field("Amount", "currency"),
                Field("Closing_Date", "date"),
                Field("Account_Name", "lookup", lookup="Accounts"),
                Field("Contact_Name", "lookup", lookup="Contacts"),
                Field("Pipeline", "picklist"),
                Field("Probability", "integer"),
                Field("Type", "picklist"),
                Field("Lead_Source", "picklist"),
                Field("Description", "textarea"),
            ),
        ),
        Module(
            "Products",
            _fields(
                Field("Product_Name", system_mandatory=True),
                "Product_Code",
                Field("Unit_Price", "currency"),
                Field("Product_Active", "boolean"),
                Field("Product_Category", "picklist"),
                Field("Description", "textarea"),
            ),
        ),
        Module(
            "Campaigns",
            _fields(
                Field("Campaign_Name", system_mandatory=True),
                Field("Type", "picklist"),
                Field("Status", "picklist"),
                Field("Start_Date", "date"),
                Field("End_Date", "date"),
                Field("Description", "textarea"),
            ),
        ),
        Module(
            "Tasks",
            _fields(
                Field("Subject", system_mandatory=True),
                Field("Due_Date", "date"),
                Field("Status", "picklist"),
                Field("Priority", "picklist"),
                Field("Description", "textarea"),
            ),
        ),
    )


def _bigin_modules() -> tuple[Module, ...]:
    """Bigin's modules (Bigin names Companies ``Accounts`` and deals ``Pipelines`` in its API)."""
    return (
        Module(
            "Contacts",
            _fields(
                "First_Name",
                Field("Last_Name", system_mandatory=True),
                Field("Email", "email", unique=True),
                Field("Phone", "phone"),
                Field("Mobile", "phone"),
                "Title",
                Field("Account_Name", "lookup", lookup="Accounts"),
                "Mailing_Street",
                "Mailing_City",
                "Mailing_State",
                "Mailing_Zip",
                "Mailing_Country",
                Field("Description", "textarea"),
                Field("Email_Opt_Out", "boolean"),
            ),
        ),
        Module(
            "Accounts",
            _fields(
                Field("Account_Name", system_mandatory=True),
                Field("Phone", "phone"),
                Field("Website", "website"),
                "Billing_Street",
                "Billing_City",
                "Billing_State",
                "Billing_Code",
                "Billing_Country",
                Field("Description", "textarea"),
            ),
            plural_label="Companies",
            singular_label="Company",
        ),
        Module(
            "Pipelines",
            _fields(
                Field("Deal_Name", system_mandatory=True),
                Field("Stage", "picklist", system_mandatory=True),
                Field("Sub_Pipeline", "picklist"),
                Field("Amount", "currency"),
                Field("Closing_Date", "date"),
                Field("Account_Name", "lookup", lookup="Accounts"),
                Field("Contact_Name", "lookup", lookup="Contacts"),
                Field("Description", "textarea"),
            ),
        ),
        Module(
            "Products",
            _fields(
                Field("Product_Name", system_mandatory=True),
                "Product_Code",
                Field("Unit_Price", "currency"),
                Field("Product_Active", "boolean"),
                Field("Description", "textarea"),
            ),
        ),
    )


def default_modules(product: str) -> tuple[Module, ...]:
    """Return the modules a fresh emulated org has.

    :param product: ``crm`` or ``bigin``.
    :return: the modules.
    """
    if product not in PRODUCTS:
        raise ValueError(f"product must be one of {PRODUCTS}, got {product!r}")
    return _crm_modules() if product == "crm" else _bigin_modules()


class Account:
    """The CRM and Bigin org the emulator plays: modules by product, and the records bulk writes keep."""

    def __init__(self) -> None:
        """Start with Zoho's default modules and no records."""
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._modules: dict[str, dict[str, Module]] = {
            product: {m.api_name: m for m in default_modules(product)} for product in PRODUCTS
        }
        self._records: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        #: The clock ``Created_Time`` and ``Modified_Time`` are stamped from (epoch seconds); a test may set it.
        self.clock: Callable[[], float] = time.time

    # -- modules ------------------------------------------------------------------------------------------
    def declare_module(self, product: str, module: Module | Mapping[str, Any]) -> Module:
        """Add a module to the org, or replace the one with its API name (its records are kept).

        :param product: ``crm`` or ``bigin``.
        :param module: the module, or the admin API's form of it.
        :return: the module.
        :raises ValueError: an unknown product or a module that cannot be read.
        """
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {PRODUCTS}, got {product!r}")
        declared = module if isinstance(module, Module) else Module.from_json(module)
        with self.lock:
            self._modules[product][declared.api_name] = declared
        return declared

    def declare_from_json(self, payload: Any) -> list[str]:
        """Read the admin API's form: ``{"product": "crm", "modules": [{"api_name": ..., "fields": [...]}]}``.

        :param payload: the decoded JSON object.
        :return: the declared modules' API names.
        :raises ValueError: an unknown key, product or a module that cannot be read.
        """
        if not isinstance(payload, Mapping):
            raise ValueError("the body is an object {product, modules}")
        if unknown := set(payload) - {"product", "modules"}:
            raise ValueError(f"crm modules take product and modules, not {sorted(unknown)}")
        product = payload.get("product", "crm")
        modules = payload.get("modules")
        if not isinstance(modules, list) or not modules:
            raise ValueError("modules must be a non-empty list")
        parsed = [Module.from_json(item) for item in modules]  # all or nothing
        return [self.declare_module(str(product), module).api_name for module in parsed]

    def module(self, product: str, api_name: str) -> Module | None:
        """Return the product's module with this API name, or None."""
        with self.lock:
            return self._modules.get(product, {}).get(api_name)

    def modules(self, product: str) -> list[Module]:
        """Return the product's modules, in the order they were declared."""
        with self.lock:
            return list(self._modules.get(product, {}).values())

    def modules_json(self, product: str) -> dict[str, Any]:
        """Return the body of ``GET .../settings/modules``."""
        return {"modules": [m.to_json(_meta_id(product, n)) for n, m in enumerate(self.modules(product), 1)]}

    def fields_json(self, product: str, api_name: str) -> dict[str, Any] | None:
        """Return the body of ``GET .../settings/fields?module=...``, or None for a module the org lacks."""
        module = self.module(product, api_name)
        if module is None:
            return None
        base = 1000 * (1 + [m.api_name for m in self.modules(product)].index(api_name))
        return {"fields": [f.to_json(_meta_id(product, base + n)) for n, f in enumerate(module.fields, 1)]}

    # -- records ------------------------------------------------------------------------------------------
    def insert(self, product: str, module: str, values: Mapping[str, str]) -> str:
        """Create a record, stamped with Zoho's ``Created_Time`` and ``Modified_Time``; return its new id."""
        now = iso_time(self.clock())
        with self.lock:
            record_id = str(4_150_868_000_001_000_000 + next(self._ids))
            record = {**values, "Created_Time": now, "Modified_Time": now}
            self._records.setdefault((product, module), {})[record_id] = record
            return record_id

    def update(self, product: str, module: str, record_id: str, values: Mapping[str, str]) -> None:
        """Overwrite the given fields of an existing record and stamp its ``Modified_Time``."""
        now = iso_time(self.clock())
        with self.lock:
            record = self._records[(product, module)][record_id]
            record.update({name: value for name, value in values.items() if name not in TIMESTAMPS})
            record["Modified_Time"] = now

    def find(self, product: str, module: str, field: str, value: str) -> str | None:
        """Return the id of the record whose ``field`` holds ``value`` (``id`` matches the id), or None.

        Zoho's duplicate check ignores case for e-mail addresses (*unverified* for other types): so does this.
        """
        if not value:
            return None
        with self.lock:
            records = self._records.get((product, module), {})
            if field == "id":
                return value if value in records else None
            folded = value.casefold()
            return next((rid for rid, rec in records.items() if rec.get(field, "").casefold() == folded), None)

    def records(self, product: str, module: str) -> dict[str, dict[str, str]]:
        """Return a copy of a module's records by id."""
        with self.lock:
            return {rid: dict(rec) for rid, rec in self._records.get((product, module), {}).items()}


def _meta_id(product: str, n: int) -> str:
    return str((4_150_868_000_000_002_000 if product == "crm" else 4_150_868_000_000_003_000) + n)
