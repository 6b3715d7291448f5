"""The Zoho Creator account the emulator holds: applications (owner, link name), their forms and reports.

Zoho refuses a bulk insert into an application or a form that does not exist, and a CSV whose header names a
field the form does not have; the emulator does too, from what this account holds. It also serves Creator's
metadata APIs, which is how a client learns the link names before it spends a job:

- ``GET /creator/v2.1/meta/applications`` (https://www.zoho.com/creator/help/api/v2.1/get-applications.html),
- ``GET /creator/v2.1/meta/{owner}/{app}/forms`` (https://www.zoho.com/creator/help/api/v2.1/get-forms.html),
- ``GET /creator/v2.1/meta/{owner}/{app}/form/{form}/fields``
  (https://www.zoho.com/creator/help/api/v2.1/get-fields.html),
- ``GET /creator/v2.1/meta/{owner}/{app}/reports`` (https://www.zoho.com/creator/help/api/v2.1/get-reports.html).

*unverified*: the answers' keys beyond the link and display names, the numbers of field types, and how an app
lives in the ``environment`` header's environments (here: an app lists the environments it is published to).
Error codes: Creator's status-codes page (https://www.zoho.com/creator/help/api/v2.1/status-codes.html) and
``docs/zoho-api.md``, "Error bodies": 2892 no such application, 2893 no such form, 1040 no such owner; their
HTTP statuses (404) are *unverified*.

The default account holds what the repository's tests, example DAGs and demo load; others are declared with
:meth:`CreatorAccount.declare_app` or ``POST {ADMIN_PREFIX}/creator_apps``.

A report shows one form's records (a bulk read is made of a report, not a form:
https://www.zoho.com/creator/help/api/v2.1/bulk-read-api/create-bulk-read-job.html). A report is bound to its form
explicitly (``report_forms``) or, failing that, by Creator's default name for a form's report, ``All_<Form>``
(``All_Orders`` shows ``Orders``: the naming of the docs' samples, *unverified* as a rule). An unknown report is
refused with 2894 "Wrong View Name specified" (https://www.zoho.com/creator/help/api/creator-error-codes.html, where
reports were views; the v2.1 status-codes page names no code for it, so code and HTTP 404 are *unverified*).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_APPS",
    "CreatorAccount",
    "CreatorApp",
    "CreatorField",
    "CreatorForm",
    "Refusal",
    "app_from_json",
]

ENVIRONMENTS = frozenset({"production", "development", "stage"})
# *unverified*: Zoho numbers its field types in the fields API; these are the emulator's.
FIELD_TYPES = {"Single Line": 1, "Email": 3, "Number": 5, "Date": 10, "Name": 31}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Creator's refusal: its code, message and HTTP status."""

    code: int
    message: str
    status: int = 404


@dataclass(frozen=True, slots=True)
class CreatorField:
    """A form's field.

    :param link_name: the name a CSV's header uses.
    :param display_name: the label; default the link name.
    :param type: the field type's name (a key of ``FIELD_TYPES``).
    :param mandatory: the field must be given a value.
    :param subfields: a composite field's parts (``Name.first_name`` in a header).
    """

    link_name: str
    display_name: str = ""
    type: str = "Single Line"
    mandatory: bool = False
    subfields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """Return the field as Creator's fields API lists it (shape beyond the names *unverified*)."""
        answer: dict[str, Any] = {
            "link_name": self.link_name,
            "display_name": self.display_name or self.link_name,
            "type": FIELD_TYPES.get(self.type, 1),
            "mandatory": self.mandatory,
            "unique": False,
        }
        if self.subfields:
            answer["subfields"] = [
                {"link_name": sub, "display_name": sub.replace("_", " ").title()} for sub in self.subfields
            ]
        return answer

    def header_names(self) -> list[str]:
        """Return the header names that write this field: its link name and ``link.subfield`` for each part.

        A bare composite name is accepted (*unverified*: the docs show only ``Name.first_name``).
        """
        return [self.link_name, *(f"{self.link_name}.{sub}" for sub in self.subfields)]


@dataclass(frozen=True, slots=True)
class CreatorForm:
    """A form: its link name, display name and fields."""

    link_name: str
    display_name: str = ""
    fields: tuple[CreatorField, ...] = ()

    def unknown_header_names(self, header: Iterable[str]) -> list[str]:
        """Return the header names that are no field link name of this form (in the header's order).

        Zoho: the header row holds the fields' link names, ``Name.first_name`` for a composite field
        (https://www.zoho.com/creator/help/api/v2.1/bulk-insert-api/upload-bulk-insert-job.html).
        """
        known = {name for one in self.fields for name in one.header_names()}
        return [name for name in dict.fromkeys(header) if name.strip() not in known]


@dataclass(frozen=True, slots=True)
class CreatorApp:
    """An application: its owner (the workspace), link name, forms, reports and environments."""

    owner: str
    link_name: str
    application_name: str = ""
    forms: tuple[CreatorForm, ...] = ()
    reports: tuple[str, ...] = ()
    environments: frozenset[str] = ENVIRONMENTS
    #: (report, form) pairs binding a report to the form it shows; a report left out shows ``All_<Form>``'s form.
    report_forms: tuple[tuple[str, str], ...] = ()

    def form(self, link_name: str) -> CreatorForm | None:
        """Return the form of that link name, or None."""
        return next((form for form in self.forms if form.link_name == link_name), None)

    def report_form(self, report: str) -> CreatorForm | None:
        """Return the form whose records a report of this app shows, or None (no such report, or no form for it).

        :param report: the report's link name.
        :return: its bound form, else the form ``X`` of a report named ``All_X``.
        """
        if report not in self.reports:
            return None
        bound = dict(self.report_forms).get(report)
        if bound is not None:
            return self.form(bound)
        return self.form(report[len("All_") :]) if report.startswith("All_") else None

    def as_json(self) -> dict[str, Any]:
        """Return the app as Creator's applications API lists it (keys beyond the names *unverified*)."""
        return {
            "application_name": self.application_name or self.link_name,
            "link_name": self.link_name,
            "workspace_name": self.owner,
            "created_by": self.owner,
            "date_format": "dd-MMM-yyyy",
            "time_zone": "UTC",
            "category": 1,
        }


def _employee_fields() -> tuple[CreatorField, ...]:
    return (
        CreatorField("Name", "Name", "Name", subfields=("prefix", "first_name", "last_name", "suffix")),
        CreatorField("Last_Name"),
        CreatorField("Email", type="Email", mandatory=True),
        CreatorField("Phone_Number"),
        CreatorField("Department"),
    )


# What the tests, example DAGs and demo load: jason18's zylker-store, forms Employee_Details
# ("Name.first_name,Email" and "Last_Name,Email" files), Employees and Emp alike, and Contacts
# ("Last_Name,First_Name,Email"); and the scope tests' owner/app form Orders.
DEFAULT_APPS: tuple[CreatorApp, ...] = (
    CreatorApp(
        "jason18",
        "zylker-store",
        "Zylker Store",
        forms=(
            CreatorForm("Employee_Details", "Employee Details", _employee_fields()),
            CreatorForm("Employees", "Employees", _employee_fields()),
            CreatorForm("Emp", "Emp", _employee_fields()),
            CreatorForm(
                "Contacts",
                "Contacts",
                (
                    CreatorField("Last_Name", "Last Name", mandatory=True),
                    CreatorField("First_Name", "First Name"),
                    CreatorField("Email", type="Email"),
                    CreatorField("Phone"),
                ),
            ),
            # The bulk read docs' samples read jason18/zylker-store/report/All_Orders.
            CreatorForm(
                "Orders",
                "Orders",
                (
                    CreatorField("Order_ID", "Order ID"),
                    CreatorField("Customer"),
                    CreatorField("Status"),
                    CreatorField("Amount", type="Number"),
                    CreatorField("Order_Date", "Order Date", "Date"),
                ),
            ),
        ),
        reports=("All_Employee_Details", "All_Employees", "All_Contacts", "All_Orders"),
    ),
    CreatorApp(
        "owner",
        "app",
        "App",
        forms=(CreatorForm("Orders", "Orders", (CreatorField("Order_ID"), CreatorField("Amount", type="Number"))),),
        reports=("All_Orders",),
    ),
)


def _names(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{what} must be a list of names")
    return tuple(value)


def _field_from_json(raw: Any) -> CreatorField:
    if isinstance(raw, str) and raw:
        return CreatorField(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("link_name"), str) or not raw["link_name"]:
        raise ValueError(f"a field is a link name or {{'link_name', ...}}; got {raw!r}")
    unknown = set(raw) - {"link_name", "display_name", "type", "mandatory", "subfields"}
    if unknown:
        raise ValueError(f"a field takes link_name, display_name, type, mandatory, subfields; not {sorted(unknown)}")
    kind = str(raw.get("type", "Single Line"))
    if kind not in FIELD_TYPES:
        raise ValueError(f"field type {kind!r} is none of {sorted(FIELD_TYPES)}")
    return CreatorField(
        raw["link_name"],
        str(raw.get("display_name") or ""),
        kind,
        bool(raw.get("mandatory", False)),
        _names(raw.get("subfields", []), "subfields"),
    )


def app_from_json(payload: Mapping[str, Any]) -> CreatorApp:
    """Read an app from the admin API's JSON.

    :param payload: ``{"owner", "link_name", "application_name"?, "forms": {form: [field, ...]} or
        [{"link_name", "display_name"?, "fields": [...]}], "reports"?: [...], "environments"?: [...]}``; a field
        is a link name or ``{"link_name", "display_name"?, "type"?, "mandatory"?, "subfields"?}``; a report is a
        link name (``All_<Form>`` shows that form) or ``{"link_name", "form"}``, or ``reports`` is ``{report: form}``.
    :return: the app.
    :raises ValueError: a key or value the account does not take.
    """
    unknown = set(payload) - {"owner", "link_name", "application_name", "forms", "reports", "environments"}
    if unknown:
        raise ValueError(
            f"an app takes owner, link_name, application_name, forms, reports, environments; not {sorted(unknown)}"
        )
    owner, link_name = payload.get("owner"), payload.get("link_name")
    if not isinstance(owner, str) or not owner or not isinstance(link_name, str) or not link_name:
        raise ValueError("an app needs its owner and link_name")
    raw_forms = payload.get("forms") or []
    if isinstance(raw_forms, dict):
        raw_forms = [{"link_name": name, "fields": fields} for name, fields in raw_forms.items()]
    if not isinstance(raw_forms, list):
        raise ValueError("forms must be {form: [field, ...]} or a list of forms")
    forms = []
    for raw in raw_forms:
        if not isinstance(raw, dict) or not isinstance(raw.get("link_name"), str) or not raw["link_name"]:
            raise ValueError(f"a form is {{'link_name', 'display_name'?, 'fields'}}; got {raw!r}")
        fields = raw.get("fields") or []
        if not isinstance(fields, list):
            raise ValueError(f"form {raw['link_name']}: fields must be a list")
        forms.append(
            CreatorForm(raw["link_name"], str(raw.get("display_name") or ""), tuple(map(_field_from_json, fields)))
        )
    environments = frozenset(_names(payload.get("environments", sorted(ENVIRONMENTS)), "environments"))
    if environments - ENVIRONMENTS:
        raise ValueError(f"environments are among {sorted(ENVIRONMENTS)}")
    reports, report_forms = _reports(payload.get("reports", []), {form.link_name for form in forms})
    return CreatorApp(
        owner,
        link_name,
        str(payload.get("application_name") or ""),
        tuple(forms),
        reports,
        environments,
        report_forms,
    )


def _reports(raw: Any, forms: set[str]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Read ``reports``: names, ``{"link_name", "form"}`` objects, or ``{report: form}``; a bound form must exist."""
    if isinstance(raw, dict):
        raw = [{"link_name": name, "form": form} for name, form in raw.items()]
    if not isinstance(raw, list):
        raise ValueError("reports must be a list of names or {'link_name', 'form'}, or {report: form}")
    names: list[str] = []
    bound: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, str) and item:
            names.append(item)
            continue
        if (
            not isinstance(item, dict)
            or set(item) - {"link_name", "form"}
            or not isinstance(item.get("link_name"), str)
        ):
            raise ValueError(f"a report is a link name or {{'link_name', 'form'}}; got {item!r}")
        names.append(item["link_name"])
        if item.get("form") is not None:
            if item["form"] not in forms:
                raise ValueError(f"report {item['link_name']}: no form {item['form']!r} in the app")
            bound.append((item["link_name"], str(item["form"])))
    return tuple(names), tuple(bound)


@dataclass
class CreatorAccount:
    """The apps the emulator's Creator holds, by owner and link name.

    :param apps: the apps at start; default ``DEFAULT_APPS``.
    """

    apps: dict[tuple[str, str], CreatorApp] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def default(cls) -> CreatorAccount:
        """Return an account holding ``DEFAULT_APPS``."""
        return cls({(app.owner, app.link_name): app for app in DEFAULT_APPS})

    def declare_app(self, app: CreatorApp | Mapping[str, Any]) -> CreatorApp:
        """Add an app, or replace the one of the same owner and link name.

        :param app: the app, or its admin-API JSON (see :func:`app_from_json`).
        :return: the app added.
        :raises ValueError: JSON the account does not take.
        """
        declared = app if isinstance(app, CreatorApp) else app_from_json(app)
        with self.lock:
            self.apps[(declared.owner, declared.link_name)] = declared
        return declared

    def listed(self, environment: str | None) -> list[CreatorApp]:
        """Return the apps of an environment (None: production)."""
        with self.lock:
            return [app for app in self.apps.values() if (environment or "production") in app.environments]

    def find_app(self, owner: str, link_name: str, environment: str | None) -> CreatorApp | Refusal:
        """Return the app, or Creator's refusal: 1040 for an owner with no app, else 2892.

        Codes: https://www.zoho.com/creator/help/api/v2.1/status-codes.html (HTTP 404 *unverified*).
        """
        apps = self.listed(environment)
        if not any(app.owner == owner for app in apps):
            return Refusal(1040, f"No account owner named {owner} found. Please check and try again.")
        found = next((app for app in apps if app.owner == owner and app.link_name == link_name), None)
        if found is None:
            return Refusal(2892, f"No application named {link_name} found. Please check and try again.")
        return found

    def find_report(self, owner: str, app: str, report: str, environment: str | None) -> CreatorForm | Refusal:
        """Return the form a report shows, or Creator's refusal (the app's, or 2894 for the report).

        2894 "Wrong View Name specified" is Creator's v1 code (https://www.zoho.com/creator/help/api/creator-error-codes.html);
        *unverified* for v2.1, and so is HTTP 404.
        """
        found = self.find_app(owner, app, environment)
        if isinstance(found, Refusal):
            return found
        return found.report_form(report) or Refusal(
            2894, f"No report named {report} found. Please check and try again."
        )

    def find_form(self, owner: str, app: str, form: str, environment: str | None) -> CreatorForm | Refusal:
        """Return the form, or Creator's refusal (the app's, or 2893 for the form; HTTP 404 *unverified*)."""
        found = self.find_app(owner, app, environment)
        if isinstance(found, Refusal):
            return found
        return found.form(form) or Refusal(2893, f"No form named {form} found. Please check and try again.")
