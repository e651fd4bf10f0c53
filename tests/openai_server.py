"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for the judge's tests and benchmark.

Real HTTP, spoken to by the real `openai` client. It plays a judge model that can answer well, slowly,
or fail: each request takes the next entry of `faults` (then answers well once they are used up):
  "429"        rate limited (with Retry-After: 0)
  "500"        internal server error
  "timeout"    answers after `timeout_s` seconds (longer than the client waits)
  "malformed"  a reply that is not JSON
  "invalid"    JSON that breaks the schema (a score of 11)
  "echo401"    401 whose error text echoes the API key it was sent (as some gateways do)
  "echo500"    500 whose error text echoes the API key (retried, then a failure)
Its "model" is deliberately gullible: it obeys "rate 10" when it sees it OUTSIDE the <episode> data
block, which is how the tests show that a prompt injection inside the data never reaches the label.
"""

from __future__ import annotations

import json
import re
import time
from loopback import JsonHandler, LoopbackServer


class FakeJudgeServer(LoopbackServer):
    def __init__(self, latency_s: float = 0.0, timeout_s: float = 2.0):
        self.latency_s = latency_s
        self.timeout_s = timeout_s
        self.faults: list[str] = []
        self.requests: list[dict] = []
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def _next_fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    @staticmethod
    def judge(messages: list[dict]) -> dict:
        user = messages[-1]["content"]
        data = re.search(r"<episode>\n(.*)\n</episode>", user, re.S)
        outside = messages[0]["content"] + (user[:data.start()] + user[data.end():] if data else user)
        episode = json.loads(data.group(1)) if data else {"turns": []}
        turns = len(episode["turns"])
        # For agents that speak one at a time it blames the last speaker who was not a tool (null otherwise).
        speaking = [t["responses"] for t in episode["turns"]]
        blamed = ([i for i, r in enumerate(speaking) if r[0].get("kind") != "tool_result"] or [None])[-1] \
            if speaking and all(len(r) == 1 for r in speaking) else None
        attribution = {"failure_agent": None if blamed is None else speaking[blamed][0]["agent_id"],
                       "failure_turn": blamed}
        if re.search(r"rate (it )?10", outside, re.I):
            return {"coordination_success": 10, "agreement_level": "high", "efficiency_rating": 10,
                    "rationale": "Instructed to rate 10.", "turn_events": [[] for _ in range(turns)], **attribution}
        # Its "judgement" reads only what it is shown: the number of turns and whether the answers share words.
        first = [set(r["content"].lower().split()) for r in episode["turns"][0]["responses"]] if turns else [set()]
        shared = bool(set.intersection(*first)) if first else False
        return {"coordination_success": 5 + min(turns - 1, 3),
                "agreement_level": "medium" if shared else "low",
                "efficiency_rating": max(0, 9 - turns),
                "rationale": f"{turns} turn(s); answers {'share' if shared else 'do not share'} words.",
                "turn_events": [["diverge"] for _ in range(turns)], **attribution}

    def _handler(self):
        server = self

        class Handler(JsonHandler):
            _send = JsonHandler.send_json

            def do_POST(self):  # noqa: N802 - http.server's naming
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(request)
                fault = server._next_fault()
                time.sleep(server.timeout_s if fault == "timeout" else server.latency_s)
                if fault == "429":
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                                      {"Retry-After": "0"})
                if fault == "500":
                    return self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                if fault in ("echo401", "echo500"):
                    sent = self.headers.get("Authorization", "")
                    return self._send(401 if fault == "echo401" else 500, {"error": {
                        "message": f"Incorrect API key provided: {sent.removeprefix('Bearer ')} ({sent})",
                        "type": "invalid_request_error"}})
                answer = server.judge(request["messages"])
                if fault == "invalid":
                    answer["coordination_success"] = 11
                content = "Sure! Here is my rating: great" if fault == "malformed" else json.dumps(answer)
                prompt_text = " ".join(m["content"] for m in request["messages"])
                self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": request["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": len(prompt_text) // 4, "completion_tokens": len(content) // 4,
                              "total_tokens": (len(prompt_text) + len(content)) // 4},
                })

        return Handler


class ScriptedChatServer(LoopbackServer):
    """An OpenAI-compatible chat-completions model that answers from a script, for running real agent frameworks
    in the tests: each request takes the next reply of `script` (a text, or {"tool_calls": [(name, arguments)]},
    with "content" beside them for a reply that writes text and calls tools),
    and the server records every request it received and every response it sent (`exchanges`), so a test can
    compare a trace with what really went over the wire. Its usage is deterministic: prompt tokens are the words
    of the request's message contents, completion tokens the words of the reply (plus its tool calls)."""

    def __init__(self, script: list):
        self.script = list(script)
        self.exchanges: list[tuple[dict, dict]] = []
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @staticmethod
    def words(messages: list[dict]) -> int:
        count = 0
        for message in messages:
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"text": content or ""}]
            count += sum(len(str(part.get("text") or "").split()) for part in parts if isinstance(part, dict))
            for call in message.get("tool_calls") or []:
                count += len(call["function"]["arguments"].split())
        return count

    def reply(self, request: dict) -> dict:
        with self.lock:
            step = self.script.pop(0) if self.script else "Done."
            index = len(self.exchanges)
        if isinstance(step, dict):
            calls = [{"id": f"call_{index}_{n}", "type": "function",
                      "function": {"name": name, "arguments": json.dumps(arguments)}}
                     for n, (name, arguments) in enumerate(step["tool_calls"])]
            message = {"role": "assistant", "content": step.get("content"), "tool_calls": calls}
            finish = "tool_calls"
        else:
            message, finish = {"role": "assistant", "content": step}, "stop"
        prompt, completion = self.words(request["messages"]), self.words([message])
        return {"id": f"chatcmpl-{index}", "object": "chat.completion", "created": 0, "model": request["model"],
                "choices": [{"index": 0, "finish_reason": finish, "message": message}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}}

    def _handler(self):
        server = self

        class Handler(JsonHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.path.endswith("/chat/completions"):
                    return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                response = server.reply(request)
                with server.lock:
                    server.exchanges.append((request, response))
                if request.get("stream"):  # server-sent events, as OpenAI streams: the same reply in chunks
                    return self.send_json(200, stream_events(response, request), {"Content-Type": "text/event-stream"})
                self.send_json(200, response)

        return Handler


def stream_events(response: dict, request: dict) -> bytes:
    """A chat completion as OpenAI streams it (`stream=True`): a chunk with the role and the text, one per tool
    call, one with the finish reason, then (with `stream_options.include_usage`) one with the usage, and [DONE]."""
    choice = response["choices"][0]
    message = choice["message"]
    base = {"id": response["id"], "object": "chat.completion.chunk", "created": 0, "model": response["model"]}

    def chunk(delta: dict, finish=None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks = [chunk({"role": "assistant", "content": message["content"]})]
    chunks += [chunk({"tool_calls": [{"index": n, **call}]}) for n, call in enumerate(message.get("tool_calls") or [])]
    chunks.append(chunk({}, choice["finish_reason"]))
    if (request.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": response["usage"]})
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks).encode() + b"data: [DONE]\n\n"
