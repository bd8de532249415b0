"""Schemathesis hooks for scripts/schemathesis.sh.

1. Keep the run's credential alive. A stateful run learns the id of the admin
   key it calls with (GET /v1/account names it as `credential_key_id`, GET
   /v1/keys lists it) and can feed it to `POST /v1/keys/{id}/revoke`, or to
   `PATCH /v1/keys/{id}` with `scopes: ["read"]` or an `expires_at` a second
   away. From then on every request would be a 401 and the run would test
   nothing. Such a call goes to a decoy instead: a second live admin key of the
   same account, made for the run, so revoke and PATCH still run their real
   code on an admin key. Rotating the credential is harmless (the old key stays
   active) and is let through.

2. Dates the schema allows but the service refuses for reasons JSON Schema
   cannot state: an `expires_at` in the past, a usage `from` after its `to`.
   Left alone, most generated keys would be refused for their expiry and never
   created, and everything that follows a created key would go untested. Such
   values are moved into range without changing their validity against the
   schema: only the year changes, by whole 400-year Gregorian cycles (the same
   leap years), and only for the years the schema allows (1970-9999), so a
   value that breaks the schema on purpose still breaks it; `from` and `to`
   are swapped.

3. The operator API (`/v1/operator/…`) is called with the run's operator
   token, and never on the run's own account (a decoy account stands in).

All act in `before_call`, which every phase's requests pass through (the
`map_*` hooks see only the generated ones).
"""

import datetime
import os
import re

import schemathesis

CREDENTIAL = os.environ["KEYPORT_FUZZ_CREDENTIAL_ID"]
DECOY = os.environ["KEYPORT_FUZZ_DECOY_ID"]
ADMIN = os.environ["KEYPORT_FUZZ_ADMIN"]
OPERATOR = os.environ["KEYPORT_FUZZ_OPERATOR"]
ACCOUNT = os.environ["KEYPORT_FUZZ_ACCOUNT_ID"]
DECOY_ACCOUNT = os.environ["KEYPORT_FUZZ_DECOY_ACCOUNT_ID"]

_YEAR = re.compile(r"^\d{4}-")


def _parse(value):
    """An RFC 3339 date-time with a four-digit year, or None."""
    if not isinstance(value, str) or not _YEAR.match(value):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _into_future(value):
    parsed = _parse(value)
    if parsed is None:
        return value
    year = int(value[:4])
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    try:
        if year < 1970 or parsed > soon:
            return value
    except OverflowError:  # 9999-12-31 with a negative offset
        return value
    cycles = (soon.year + 1 - year + 399) // 400
    return "%04d%s" % (year + 400 * cycles, value[4:])


def _ordered(query):
    start, end = _parse(query["from"]), _parse(query["to"])
    try:
        if start is not None and end is not None and start > end:
            query["from"], query["to"] = query["to"], query["from"]
    except OverflowError:
        pass


def _bearer(case, token):
    headers = dict(case.headers or {})
    headers["Authorization"] = "Bearer " + token
    case.headers = headers


@schemathesis.auth(refresh_interval=None).apply_to(path_regex="^/v1/operator/")
class OperatorToken:
    """`/v1/operator/` takes the run's operator token. As auth providers,
    schemathesis still sends these requests without and with broken
    credentials to check they are refused."""

    def get(self, case, context):
        return OPERATOR

    def set(self, case, data, context):
        _bearer(case, data)


@schemathesis.auth(refresh_interval=None).skip_for(path_regex="^/v1/operator/")
class AdminKey:
    """Everything else takes the account's admin key."""

    def get(self, case, context):
        return ADMIN

    def set(self, case, data, context):
        _bearer(case, data)


def _spare_the_run_account(case):
    """A suspend or delete of the run's own account goes to the decoy
    account instead, like the credential's revoke (1.)."""
    params = case.path_parameters
    if case.path.startswith("/v1/operator/") and params and params.get("id") == ACCOUNT:
        params["id"] = DECOY_ACCOUNT


@schemathesis.hook
def before_call(context, case, **kwargs):
    _spare_the_run_account(case)
    params = case.path_parameters
    if params and params.get("id") == CREDENTIAL:
        if case.method.upper() == "PATCH" or case.path.endswith("/revoke"):
            params["id"] = DECOY
    if isinstance(case.body, dict) and "expires_at" in case.body:
        case.body["expires_at"] = _into_future(case.body["expires_at"])
    if isinstance(case.query, dict) and "from" in case.query and "to" in case.query:
        _ordered(case.query)
