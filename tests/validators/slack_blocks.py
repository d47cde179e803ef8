#!/usr/bin/env python3
"""Validates Slack messages with slack_sdk's own Block Kit models.

Usage: slack_blocks.py FILE... (or a message on stdin)

Each input is a JSON list of blocks, or a chat.postMessage / chat.update
body (an object with "blocks" and optionally "text"). Every block is parsed
with slack_sdk.models.blocks.Block.parse and serialised with to_dict(),
which runs the models' validators on the block and each element in it
(section text 3000, header 150, button text 75 and value 2000, action_id and
block_id 255, input label 2000, placeholder 150, at most 10 fields, ...).
The documented limits slack_sdk does not check are checked here too: each
section field at most 2000 characters, context blocks at most 10 elements of
at most 3000 characters, at most 50 blocks in a message, and the top-level
text at most 40,000 characters.

Before reading any input, the script makes sure the installed slack_sdk
still refuses known-bad blocks, so a validator that stopped validating
cannot pass silently. Exits 1 with the reason on the first failure.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.version import __version__ as SLACK_SDK_VERSION

MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000


class Invalid(Exception):
    """A block or message Slack would refuse."""


def check_block(block: Any) -> None:
    if not isinstance(block, dict):
        raise Invalid(f"a block must be an object, not {type(block).__name__}")
    try:
        parsed = Block.parse(block)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise Invalid(f"slack_sdk cannot read it: {e}") from e
    if parsed is None:
        raise Invalid(f"slack_sdk does not know the block type {block.get('type')!r}")
    try:
        parsed.to_dict()  # validate_json() on the block and every element in it
    except SlackObjectFormationError as e:
        raise Invalid(f"slack_sdk: {e}") from e
    kind = block.get("type")
    if kind == "section":
        for i, field in enumerate(block.get("fields") or []):
            text = field.get("text", "")
            if len(text) > MAX_FIELD_TEXT:
                raise Invalid(f"fields[{i}] is {len(text)} characters, over {MAX_FIELD_TEXT}")
    if kind == "context":
        elements = block.get("elements") or []
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            raise Invalid(f"{len(elements)} context elements, over {MAX_CONTEXT_ELEMENTS}")
        for i, element in enumerate(elements):
            text = element.get("text", "")
            if isinstance(text, str) and len(text) > MAX_CONTEXT_TEXT:
                raise Invalid(f"elements[{i}] is {len(text)} characters, over {MAX_CONTEXT_TEXT}")


def check_message(message: Any) -> int:
    """Checks one message; the number of blocks in it."""
    if isinstance(message, list):
        blocks, text = message, None
    elif isinstance(message, dict) and isinstance(message.get("blocks"), list):
        blocks, text = message["blocks"], message.get("text")
    else:
        raise Invalid("expected a list of blocks or an object with `blocks`")
    if not blocks:
        raise Invalid("no blocks")
    if len(blocks) > MAX_BLOCKS:
        raise Invalid(f"{len(blocks)} blocks, over {MAX_BLOCKS}")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_MESSAGE_TEXT):
        raise Invalid(f"the top-level text must be a string of at most {MAX_MESSAGE_TEXT} characters")
    for i, block in enumerate(blocks):
        try:
            check_block(block)
        except Invalid as e:
            raise Invalid(f"blocks[{i}] ({block.get('type') if isinstance(block, dict) else '?'}): {e}") from e
    return len(blocks)


KNOWN_BAD = {
    "a 3001-character section": {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}},
    "a 151-character header": {"type": "header", "text": {"type": "plain_text", "text": "x" * 151}},
    "11 fields": {"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11},
    "a 2001-character field": {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]},
    "a 76-character button": {
        "type": "actions",
        "elements": [{"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x" * 76}}],
    },
    "a 2001-character button value": {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "x"}, "value": "v" * 2001}
        ],
    },
    "a 256-character block_id": {"type": "section", "block_id": "b" * 256, "text": {"type": "mrkdwn", "text": "x"}},
    "an unknown block type": {"type": "not_a_block"},
    "an actions block without elements": {"type": "actions"},
}


def self_test() -> None:
    """Fails unless every known-bad block is refused and a good one passes."""
    check_block({"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3000}})
    for what, block in KNOWN_BAD.items():
        try:
            check_block(block)
        except Invalid:
            continue
        raise SystemExit(f"slack_blocks: slack_sdk {SLACK_SDK_VERSION} accepted {what}: the validator validates nothing")


def main(paths: list[str]) -> int:
    self_test()
    inputs = [(p, open(p, encoding="utf-8").read()) for p in paths] if paths else [("<stdin>", sys.stdin.read())]
    blocks = 0
    for name, text in inputs:
        try:
            blocks += check_message(json.loads(text))
        except (Invalid, json.JSONDecodeError) as e:
            print(f"slack_blocks: {name}: {e}", file=sys.stderr)
            return 1
    print(f"slack_blocks: {len(inputs)} message(s), {blocks} block(s) valid (slack_sdk {SLACK_SDK_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
