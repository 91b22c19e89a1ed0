"""WebSocket PubSub: logsSubscribe, signatureSubscribe, accountSubscribe, slotSubscribe and
their unsubscribes, each notifying at its own commitment, like a validator's PubSub service.
Subscription ids are per server; a signature subscription fires once and is then removed."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from solders.pubkey import Pubkey
from solders.signature import Signature

from simnet import encoding
from simnet.ledger import COMMITMENTS, Ledger, TxRecord

log = logging.getLogger("simnet.pubsub")

SUBSCRIBE = {"logsSubscribe": "logs", "signatureSubscribe": "signature",
             "accountSubscribe": "account", "slotSubscribe": "slot"}
UNSUBSCRIBE = {f"{k[:-9]}Unsubscribe": v for k, v in SUBSCRIBE.items()}
NOTIFICATION = {"logs": "logsNotification", "signature": "signatureNotification",
                "account": "accountNotification", "slot": "slotNotification"}


@dataclass
class Subscription:
    id: int
    kind: str
    ws: web.WebSocketResponse
    commitment: str
    target: Any = None          # Pubkey, signature, or "all"/"allWithVotes"
    received: bool = False      # signatureSubscribe's enableReceivedNotification
    encoding: str = "base64"
    answered: bool = False      # a signature already at its level: notified, not kept


class PubSub:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.subs: dict[int, Subscription] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self._ids = itertools.count(1)
        self._sending: set[asyncio.Task[None]] = set()
        self._after_ack: dict[web.WebSocketResponse, list[tuple[Subscription, Any]]] = {}
        ledger.listeners.append(self.on_ledger)

    # ----- ledger events -> notifications -------------------------------------------------

    def on_ledger(self, kind: str, payload: Any) -> None:
        if kind == "slot":
            self._notify_slot(payload)
        else:
            self._notify_tx(kind, payload)

    def _notify_slot(self, slot: int) -> None:
        value = {"parent": slot - 1, "root": self.ledger.finalized_slot, "slot": slot}
        for sub in [s for s in self.subs.values() if s.kind == "slot"]:
            self._send(sub, value)

    def _notify_tx(self, level: str, record: TxRecord) -> None:
        for sub in list(self.subs.values()):
            if sub.kind == "signature" and sub.target == record.signature:
                if level == "processed" and sub.received and sub.commitment != "processed":
                    self._send(sub, self._wrap("receivedSignature", record.slot))
                if level == sub.commitment:
                    self._send(sub, self._wrap({"err": encoding.error_json(record.err)},
                                               record.slot))
                    self.subs.pop(sub.id, None)  # fires once, then the server cancels it
            elif sub.kind == "logs" and level == sub.commitment and self._mentions(sub, record):
                self._send(sub, self._wrap({"signature": record.signature,
                                            "err": encoding.error_json(record.err),
                                            "logs": record.logs}, record.slot))
            elif sub.kind == "account" and level == sub.commitment \
                    and sub.target in record.account_keys:
                account = self.ledger.account(sub.target, level)
                value = encoding.encode_account(account, sub.encoding, sub.target,
                                                self.ledger.decimals)
                self._send(sub, self._wrap(value, record.slot))

    @staticmethod
    def _mentions(sub: Subscription, record: TxRecord) -> bool:
        return sub.target in ("all", "allWithVotes") or sub.target in record.account_keys

    @staticmethod
    def _wrap(value: Any, slot: int) -> dict[str, Any]:
        return {"context": {"slot": slot}, "value": value}

    def _send(self, sub: Subscription, result: Any) -> None:
        message = {"jsonrpc": "2.0", "method": NOTIFICATION[sub.kind],
                   "params": {"result": result, "subscription": sub.id}}
        if not sub.ws.closed:
            task = asyncio.get_running_loop().create_task(_send_quietly(sub.ws, message))
            self._sending.add(task)  # keep a reference until it is written
            task.add_done_callback(self._sending.discard)

    # ----- the WebSocket endpoint ---------------------------------------------------------

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, max_msg_size=1024 * 1024)
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_json(self.handle_text(ws, msg.data))
                    # a signature already at its level is answered right after the ack,
                    # never before it: a client maps notifications by the acked id
                    for sub, result in self._after_ack.pop(ws, []):
                        self._send(sub, result)
        finally:
            self.sockets.discard(ws)
            for sub_id in [i for i, s in self.subs.items() if s.ws is ws]:
                del self.subs[sub_id]
        return ws

    def handle_text(self, ws: web.WebSocketResponse, text: str) -> dict[str, Any]:
        try:
            request = json.loads(text)
        except ValueError:
            return {"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"},
                    "id": None}
        rid = request.get("id") if isinstance(request, dict) else None
        try:
            return {"jsonrpc": "2.0", "result": self._dispatch(ws, request), "id": rid}
        except ValueError as exc:
            return {"jsonrpc": "2.0", "error": {"code": -32602, "message": str(exc)}, "id": rid}
        except LookupError:
            return {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"},
                    "id": rid}

    def _dispatch(self, ws: web.WebSocketResponse, request: Any) -> Any:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            raise ValueError("Invalid request")
        method, params = request["method"], request.get("params") or []
        if not isinstance(params, list):
            raise ValueError("Invalid params: expected an array")
        if method in UNSUBSCRIBE:
            sub = self.subs.get(params[0] if params else -1)
            if sub is None or sub.ws is not ws or sub.kind != UNSUBSCRIBE[method]:
                raise ValueError("Invalid subscription id.")
            del self.subs[sub.id]
            return True
        if method not in SUBSCRIBE:
            raise LookupError(method)
        sub = self._subscription(ws, SUBSCRIBE[method], params)
        if not sub.answered:
            self.subs[sub.id] = sub
        return sub.id

    def _subscription(self, ws: web.WebSocketResponse, kind: str,
                      params: list[Any]) -> Subscription:
        config = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        commitment = (config.get("commitment") or "finalized")
        if commitment not in COMMITMENTS:
            raise ValueError(f"Invalid params: unknown variant `{commitment}`")
        sub = Subscription(next(self._ids), kind, ws, commitment,
                           encoding=(config.get("encoding") or "base64"))
        if kind == "logs":
            sub.target = _logs_target(params[0] if params else None)
        elif kind == "signature":
            sub.target = _signature(params[0] if params else None)
            sub.received = bool(config.get("enableReceivedNotification"))
            self._maybe_already_there(sub)
        elif kind == "account":
            sub.target = _pubkey(params[0] if params else None)
        return sub

    def _maybe_already_there(self, sub: Subscription) -> None:
        record = self.ledger.signature_of(sub.target)
        if record is not None and self.ledger.visible(record, sub.commitment):
            self._after_ack.setdefault(sub.ws, []).append(
                (sub, self._wrap({"err": encoding.error_json(record.err)}, record.slot)))
            sub.answered = True  # answered at once (after the ack); never kept

    async def close_all(self) -> int:
        sockets = list(self.sockets)
        for ws in sockets:
            await ws.close(code=1001, message=b"simnet fault: closing every websocket")
        return len(sockets)


def _logs_target(flt: Any) -> Any:
    if flt in ("all", "allWithVotes"):
        return flt
    if isinstance(flt, dict) and isinstance(flt.get("mentions"), list):
        if len(flt["mentions"]) != 1:
            raise ValueError("Invalid Request: Only 1 address supported")
        return _pubkey(flt["mentions"][0])
    raise ValueError("Invalid params: expected \"all\" or {\"mentions\": [address]}")


def _signature(value: Any) -> str:
    try:
        return str(Signature.from_string(value))
    except (ValueError, TypeError):
        raise ValueError("Invalid Request: Invalid signature provided") from None


def _pubkey(value: Any) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (ValueError, TypeError):
        raise ValueError("Invalid Request: Invalid pubkey provided") from None


async def _send_quietly(ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
    try:
        await ws.send_json(message)
    except (ConnectionError, RuntimeError):
        log.debug("subscriber went away")
