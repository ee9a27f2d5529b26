"""The steps every endpoint shares: check inputs against the limits, pick the model, count tokens,
queue the items on the model's batcher, and turn every failure into a clear HTTP error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from sentkit.errors import InputError, NumericalError
from sentkit.inference.inputs import has_content
from sentkit.server.metrics import Registry
from sentkit.server.runners import Item, ServedModel
from sentkit.server.settings import ServerSettings

logger = logging.getLogger(__name__)

INLINE_TOKENIZE_CHARS = 4096  # requests up to this many characters are tokenized on the event loop


def api_error(status: int, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    """An error the app's handler renders as ``{"error": {"message", "type", "code"}}``."""
    return HTTPException(status_code=status, detail=message, headers=headers)


_NO_CONTENT = "no content (empty, or only whitespace, control or zero-width characters); send text with content"


def check_text(value: Any, field: str, settings: ServerSettings, require_content: bool = True) -> str:
    """One UTF-8-encodable text with content (see ``has_content``) within ``max_chars_per_item``;
    else 422 / 413. TEI likewise rejects empty inputs rather than embedding them."""
    if not isinstance(value, str):
        raise api_error(422, f"{field} must be a string, got {type(value).__name__}.")
    if require_content and not has_content(value):
        raise api_error(422, f"{field} has {_NO_CONTENT}.")
    if len(value) > settings.max_chars_per_item:
        raise api_error(
            413, f"{field} has {len(value)} characters; the limit is {settings.max_chars_per_item} per item."
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise api_error(422, f"{field} is not valid Unicode (it holds a lone surrogate).") from None
    return value


def check_texts(value: Any, field: str, settings: ServerSettings) -> tuple[list[str], bool]:
    """``(texts, is_single)`` from a text or a list of texts, each checked by :func:`check_text`.

    Raises (as HTTP errors): 422 for no texts, a non-text item (token-id lists included) or texts
    without content (all their indices named); 413 for more than ``max_items_per_request`` items or
    a text over the character limit.
    """
    if value is None:
        raise api_error(422, f"{field} is missing; send a text or a list of texts.")
    if isinstance(value, str):
        return [check_text(value, field, settings)], True
    if not isinstance(value, list):
        raise api_error(422, f"{field} must be a string or a list of strings, got {type(value).__name__}.")
    if not value:
        raise api_error(422, f"{field} is an empty list; send at least one text.")
    if len(value) > settings.max_items_per_request:
        raise api_error(
            413, f"{field} holds {len(value)} items; the limit is {settings.max_items_per_request} per request."
        )
    if all(isinstance(item, int) for item in value) or any(isinstance(item, list) for item in value):
        raise api_error(422, f"{field}: token-id inputs are not supported; send the texts themselves.")
    texts = [check_text(item, f"{field}[{index}]", settings, require_content=False) for index, item in enumerate(value)]
    empty = [index for index, text in enumerate(texts) if not has_content(text)]
    if empty:
        more = f" and {len(empty) - 10} more" if len(empty) > 10 else ""
        raise api_error(422, f"{field} items at indices {empty[:10]}{more} have {_NO_CONTENT}.")
    return texts, False


def check_truncation_direction(direction: str) -> None:
    if direction.lower() != "right":
        raise api_error(422, "truncation_direction='Left' is not supported; sentkit models truncate on the right.")


def resolve_model(models: dict[str, ServedModel], name: str | None, kind: str) -> ServedModel:
    """The served model called ``name`` (default: the first of ``kind``), checked to be of ``kind``.

    Raises (as HTTP errors): 404 for an unknown name, 400 for a model of another kind, 501 when
    this server serves no model of ``kind``.
    """
    if name is None:
        for served in models.values():
            if served.kind == kind:
                return served
        raise api_error(501, f"This server serves no {kind} model; start it with one (see `sentkit serve --help`).")
    named = models.get(name)
    if named is None:
        raise api_error(404, f"Model {name!r} is not served here; available: {sorted(models)}.")
    if named.kind != kind:
        raise api_error(400, f"Model {name!r} is a {named.kind} model; this endpoint needs a {kind} model.")
    return named


def check_prompt(served: ServedModel, prompt_name: str | None) -> None:
    if prompt_name is not None and not served.has_prompt(prompt_name):
        prompts = sorted(getattr(served.model, "prompts", None) or {})
        raise api_error(422, f"prompt_name={prompt_name!r} is not among the model's prompts {prompts}.")


async def count_tokens(served: ServedModel, items: Sequence[Item], truncate: bool = True) -> list[int]:
    """Tokens each item holds as the model reads it (after truncation to its limit).

    With ``truncate=False`` an item longer than the model's limit is refused with 413 (TEI's rule).
    """
    items = list(items)
    size = sum(len(item) if isinstance(item, str) else len(item[0]) + len(item[1]) for item in items)
    if size <= INLINE_TOKENIZE_CHARS:  # a few sentences: cheaper than a hop to a worker thread
        counts = served.counter.count(items)
    else:
        counts = await run_in_threadpool(served.counter.count, items)
    limit = served.max_tokens
    if limit is None:
        return counts
    if not truncate:
        for index, count in enumerate(counts):
            if count > limit:
                raise api_error(
                    413,
                    f"Input {index} has {count} tokens; the model reads at most {limit}. "
                    "Shorten it or send truncate=true.",
                )
    return [min(count, limit) for count in counts]


async def run_items(
    served: ServedModel,
    items: list[Any],
    tokens: list[int],
    key: Hashable,
    settings: ServerSettings,
    metrics: Registry,
    timeout: float | None = None,
) -> list[Any]:
    """Queue ``items`` on the model's batcher and wait for their results.

    Raises (as HTTP errors): 429 with Retry-After when the queue is full, 503 while shutting down,
    503 with Retry-After past the request timeout (its queued items are dropped, freeing their
    places), 422 when the model refuses an input, 500 when the model fails.
    """
    future = served.batcher.enqueue(items, tokens, key)
    if future is None:
        if served.batcher.closed:
            raise api_error(503, "The server is shutting down; retry on another instance.")
        metrics.rejected.inc(reason="queue_full")
        raise api_error(
            429,
            f"The queue of model {served.name!r} is full ({served.batcher.queued_items} items waiting); retry later.",
            {"Retry-After": str(settings.retry_after_s)},
        )
    wait = settings.request_timeout_s if timeout is None else timeout
    try:
        return await asyncio.wait_for(future, wait)
    except asyncio.TimeoutError:
        metrics.rejected.inc(reason="timeout")
        raise api_error(
            503,
            f"The request did not finish within {wait:g} s; retry later or send fewer texts.",
            {"Retry-After": str(settings.retry_after_s)},
        ) from None
    except InputError as exc:
        raise api_error(422, str(exc)) from None
    except NumericalError as exc:
        raise api_error(500, str(exc)) from None
    except Exception as exc:  # a model failure must answer as a 500, not drop the connection
        logger.exception("Model %s failed on a request", served.name)
        raise api_error(500, f"The model failed on this request ({type(exc).__name__}).") from None
