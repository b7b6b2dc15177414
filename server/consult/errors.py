"""English sentences for ``ConsultError`` codes, rendered at the REST edge and the CLI
(the pages render the same codes from web/i18n/*.json, ``consult.error.CODE``)."""

from __future__ import annotations

from typing import Final

from server.consult.model import ConsultError

SENTENCES: Final[dict[str, str]] = {
    "bad_token": "The member link is not valid: open the page from your own link.",
    "not_member": "Only members ask for consultations: open the page from your member link.",
    "not_host": "Only an advisor (a host) may answer consultation requests.",
    "tier_too_low": "Consultations are for {tiers} members.",
    "already_requested": "You already have a consultation request open ({id}).",
    "not_found": "There is no consultation {id!r}.",
    "not_yours": "This consultation belongs to someone else.",
    "invalid_state": "This consultation is {state} already: nothing was changed.",
    "bad_note": "{sentence}",
    "bad_id": "'{field}' must be an id: letters, digits, '.', '_' or '-'.",
}


def sentence(error: ConsultError) -> str:
    """The English sentence of ``error`` (a missing parameter reads ``?``)."""
    template = SENTENCES.get(error.code, "That was refused.")
    params = dict(error.params)
    if isinstance(params.get("tiers"), list | tuple):
        params["tiers"] = " or ".join(str(t) for t in params["tiers"])
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template.split("{", 1)[0].strip() or "That was refused."
