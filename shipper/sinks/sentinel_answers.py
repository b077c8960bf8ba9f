"""Microsoft Sentinel's answers: the Logs Ingestion API's and Microsoft Entra ID's tokens.

Pure. Ingestion answers ``204`` on success and ``{"error": {"code", "message"}}``
otherwise (reference 4.6); the token endpoint answers ``{"access_token",
"expires_in"}`` or ``{"error", "error_description": "AADSTSnnnn: ...",
"error_codes"}`` (reference 4.3). Each refusal is told with its fix in plain
words; an AADSTS code is a mistake in the config (a wrong secret, tenant or
client id) that no retry can mend, so it is permanent, while the token
endpoint's 429 and 5xx are retried like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from shipper.sinks.answers import Answer, GiveUp, Outcome, Retry, delivered, echo, read_failure

NAME = "Azure Monitor"
ENTRA = "Microsoft Entra ID"
# Fluent Bit assumes an hour when a token answer gives no lifetime (reference 4.3).
DEFAULT_TOKEN_SECONDS = 3600.0
_AADSTS = re.compile(r"AADSTS(\d{4,9})")
# What can go in an Authorization header: nothing that could end it or add another.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]{1,16384}")

ROLE_RETRY_SECONDS = 60.0
INGESTION_MEANINGS: dict[int, str] = {
    400: (
        "the rows were refused: they do not match the stream's columns declared in the "
        "data collection rule (see the DCR in docs/destinations.md), or are not JSON"
    ),
    401: (
        "the access token was refused even when fresh: authority and url must be of the "
        "same cloud (e.g. login.microsoftonline.us with an *.azure.us endpoint)"
    ),
    403: (
        "the app may not send to this data collection rule: give its service principal "
        'the role "Monitoring Metrics Publisher" on the DCR (it takes up to 30 minutes '
        "to apply)"
    ),
    404: (
        "the data collection rule or its stream was not found: check url (the DCR's logs "
        "ingestion endpoint, or its DCE), dcr_id (the DCR's immutable id, dcr-...) and "
        "stream (the DCR's input stream, Custom-...)"
    ),
    413: "the request is over Azure's limit of 1 MB a call",
}

# What an AADSTS code means, and the fix (Microsoft Entra ID's error codes).
TOKEN_ERRORS: dict[int, str] = {
    7000215: (
        "the client secret is wrong: client_secret must be the secret's Value (not its "
        "Secret ID), from the app registration's Certificates & secrets"
    ),
    7000222: (
        "the client secret has expired: add a new one under the app registration's "
        "Certificates & secrets and set client_secret to it"
    ),
    700016: (
        "no application with this client_id in this tenant: check client_id (the app "
        "registration's Application (client) ID) and tenant_id"
    ),
    90002: "the tenant was not found: check tenant_id (the Directory (tenant) ID) and authority",
    900023: "tenant_id is neither a tenant id nor a domain of a tenant: check it",
    7000112: "the application is disabled: enable it in Entra ID, Enterprise applications",
    53003: "a Conditional Access policy blocks the app's sign-in: ask your Entra ID admin",
    500011: (
        "Azure Monitor is not known in this tenant's cloud: authority and url must be of "
        "the same cloud"
    ),
    70011: "the scope asked for is not valid for this cloud: authority and url must match",
}


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and how many seconds it lives."""

    value: str
    seconds: float


def read_ingestion_answer(answer: Answer, *, now: float, retry_after_max: float) -> Outcome:
    """The Logs Ingestion API's answer: ``204`` is success."""
    text = answer.body.strip()
    if answer.status == 204:
        return delivered(NAME, answer.status, text)
    outcome = read_failure(
        NAME,
        answer,
        text,
        now=now,
        retry_after_max=retry_after_max,
        detail=_azure_error(text),
        meaning=INGESTION_MEANINGS.get(answer.status),
    )
    if answer.status == 403 and isinstance(outcome, GiveUp):
        # A role just granted takes up to 30 minutes to apply (reference 4.6): try again
        # slowly, until give_up_after, rather than dead-letter a new channel's first events.
        return Retry(ROLE_RETRY_SECONDS, outcome.reason, 403)
    return outcome


def read_token_answer(
    answer: Answer, *, now: float, retry_after_max: float
) -> Token | Retry | GiveUp:
    """The token endpoint's answer: the token, a retry (429, 5xx) or a refusal with its fix."""
    text = answer.body.strip()
    data = _json_object(text)
    if answer.status == 200 and data is not None:
        token, seconds = data.get("access_token"), data.get("expires_in")
        if isinstance(token, str) and _TOKEN_CHARS.fullmatch(token):
            return Token(token, _lifetime(seconds))
        return GiveUp(f"{ENTRA} answered 200 without a usable access token", 200)
    code = _aadsts(data)
    if code is not None and answer.status < 500 and answer.status != 429:
        meaning = TOKEN_ERRORS.get(code)
        words = f"{ENTRA} refused the token request ({answer.status} AADSTS{code})"
        if meaning is None:
            described = data.get("error_description") if data is not None else None
            meaning = echo(described) if isinstance(described, str) else "see the code"
        return GiveUp(f"{words}: {meaning}", answer.status)
    detail = None
    if data is not None and isinstance(data.get("error"), str):
        detail = echo(str(data["error"]))
    outcome = read_failure(
        ENTRA, answer, text, now=now, retry_after_max=retry_after_max, detail=detail
    )
    if isinstance(outcome, GiveUp):
        return GiveUp(f"the token request failed: {outcome.reason}", outcome.status)
    return outcome


def _lifetime(value: object) -> float:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10**7:
        return float(value)
    return DEFAULT_TOKEN_SECONDS


def _aadsts(data: dict[str, object] | None) -> int | None:
    if data is None:
        return None
    codes = data.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    described = data.get("error_description")
    if isinstance(described, str):
        found = _AADSTS.search(described[:200])
        if found:
            return int(found.group(1))
    return None


def _azure_error(text: str) -> str | None:
    data = _json_object(text)
    error = data.get("error") if data is not None else None
    if not isinstance(error, dict):
        return None
    words = [error.get(k) for k in ("code", "message")]
    return echo(": ".join(w for w in words if isinstance(w, str))) or None


def _json_object(text: str) -> dict[str, object] | None:
    if not text.startswith("{"):
        return None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
