// Validates Teams messages with the Adaptive Cards SDK's own parser.
//
// Usage: node adaptive_card.mjs FILE...
//
// Each file is a Workflows webhook body ({"type": "message", "attachments":
// [{"contentType": "application/vnd.microsoft.card.adaptive", "content":
// CARD}]}) or a bare card. Every card is parsed by `adaptivecards` for the
// version it declares (new AdaptiveCard(), card.parse(json, context)); every
// event the parser logs (unknown element or action types, invalid property
// values, properties newer than the declared version, ...) and every failure
// of card.validateProperties() (missing required properties, unsupported
// versions, ...) fails the file. So does a body over 28 KB, the size Teams
// documents for a message (measured as compact JSON, in bytes).
//
// Before reading any input the script checks that the installed parser
// still refuses known-bad cards, so a validator that stopped validating
// cannot pass silently. Exits 1 with the reasons on the first failing file.
//
// The package's ES module build imports files without their extensions,
// which Node cannot resolve, so its UMD bundle is loaded; parsing needs no
// DOM (only rendering does).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const AC = require("adaptivecards/dist/adaptivecards.js");
const { version: AC_VERSION } = require("adaptivecards/package.json");

/** The size Teams documents for one message: 28 KB. */
export const MAX_PAYLOAD_BYTES = 28_000;
const CARD_TYPE = "application/vnd.microsoft.card.adaptive";

/** The reasons `card` is invalid for the version it declares (none: valid). */
export function cardProblems(card) {
    if (card === null || typeof card !== "object" || Array.isArray(card)) {
        return ["the card is not an object"];
    }
    if (card.type !== "AdaptiveCard") {
        return [`\`type\` is ${JSON.stringify(card.type)}, not "AdaptiveCard"`];
    }
    const probe = new AC.SerializationContext();
    const declared = typeof card.version === "string" ? AC.Version.parse(card.version, probe) : undefined;
    if (!declared || !declared.isValid) {
        return [`\`version\` ${JSON.stringify(card.version)} is not a version`];
    }
    const context = new AC.SerializationContext(declared);
    const parsed = new AC.AdaptiveCard();
    try {
        parsed.parse(card, context);
    } catch (e) {
        return [`the parser threw: ${e.message}`];
    }
    const problems = [];
    for (let i = 0; i < context.eventCount; i++) {
        const e = context.getEventAt(i);
        if (e.event !== AC.ValidationEvent.Hint) {
            problems.push(`${AC.ValidationEvent[e.event]}: ${e.message}`);
        }
    }
    for (const e of parsed.validateProperties().validationEvents) {
        if (e.event !== AC.ValidationEvent.Hint) {
            problems.push(`${AC.ValidationEvent[e.event]}: ${e.message}`);
        }
    }
    return problems;
}

/** The reasons a webhook body (or a bare card) would be refused. */
export function messageProblems(message) {
    const problems = [];
    const bytes = Buffer.byteLength(JSON.stringify(message), "utf8");
    if (bytes > MAX_PAYLOAD_BYTES) {
        problems.push(`the payload is ${bytes} bytes, over the ${MAX_PAYLOAD_BYTES} Teams takes`);
    }
    let cards;
    if (message && message.type === "message") {
        const attachments = Array.isArray(message.attachments) ? message.attachments : [];
        cards = attachments.filter((a) => a && a.contentType === CARD_TYPE).map((a) => a.content);
        if (cards.length === 0) {
            problems.push("the message has no Adaptive Card attachment");
        }
    } else {
        cards = [message];
    }
    cards.forEach((card, i) => {
        for (const p of cardProblems(card)) {
            problems.push(cards.length > 1 ? `card ${i}: ${p}` : p);
        }
    });
    return problems;
}

const good = {
    type: "AdaptiveCard",
    version: "1.5",
    body: [{ type: "TextBlock", text: "Approval needed", style: "heading", wrap: true }],
    actions: [{ type: "Action.OpenUrl", title: "Approve", url: "https://example.com/r/1", style: "positive" }],
};
const KNOWN_BAD = {
    "an unknown element type": { ...good, body: [{ type: "NotAnElement" }] },
    "an unknown action type": { ...good, actions: [{ type: "Action.Teleport", title: "x" }] },
    "an OpenUrl action without its url": { ...good, actions: [{ type: "Action.OpenUrl", title: "x" }] },
    "a style newer than the declared 1.2": { ...good, version: "1.2" },
    "an invalid action style": { ...good, actions: [{ ...good.actions[0], style: "loud" }] },
    "an unreleased card version": { ...good, version: "9.9" },
    "a payload over 28 KB": { ...good, body: [{ type: "TextBlock", text: "x".repeat(30_000) }] },
};

/** Fails unless the parser refuses every known-bad card and takes a good one. */
function selfTest() {
    const ok = messageProblems({ type: "message", attachments: [{ contentType: CARD_TYPE, content: good }] });
    if (ok.length > 0) {
        throw new Error(`adaptivecards ${AC_VERSION} refused a valid card: ${ok.join("; ")}`);
    }
    for (const [what, card] of Object.entries(KNOWN_BAD)) {
        if (messageProblems(card).length === 0) {
            throw new Error(`adaptivecards ${AC_VERSION} accepted ${what}: the validator validates nothing`);
        }
    }
}

function main(paths) {
    selfTest();
    if (paths.length === 0) {
        console.error("adaptive_card: name the files to check");
        return 1;
    }
    for (const path of paths) {
        let message;
        try {
            message = JSON.parse(readFileSync(path, "utf8"));
        } catch (e) {
            console.error(`adaptive_card: ${path}: ${e.message}`);
            return 1;
        }
        const problems = messageProblems(message);
        if (problems.length > 0) {
            console.error(`adaptive_card: ${path}:\n  ${problems.join("\n  ")}`);
            return 1;
        }
    }
    console.log(`adaptive_card: ${paths.length} card(s) valid (adaptivecards ${AC_VERSION}, at most ${MAX_PAYLOAD_BYTES} bytes)`);
    return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
    process.exitCode = main(process.argv.slice(2));
}
