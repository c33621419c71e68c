"""The review web app: flagged policies, their evidence, and a form for the on-site verdict.

``create_app(run_dir)`` returns a FastAPI application (served by uvicorn in ``scoring review``).

Protection:

- **Token.** With a token configured every request must carry it (``Authorization: Bearer``,
  the ``review_token`` cookie, or ``?token=`` once, which sets the cookie); anything else is
  refused with 401. The CLI refuses to bind a non-loopback address without one.
- **CSRF.** Each browser gets a random session cookie (HttpOnly, SameSite=Strict); forms carry
  ``HMAC(secret, session)`` and a POST without the matching value, or from another origin,
  is refused with 403.
- **Host.** Only requests whose Host header names an address the app is bound to (127.0.0.1,
  localhost, [::1], and with a token the configured host) are answered (421 otherwise): a
  DNS-rebinding page cannot read policies or post verdicts through the reviewer's browser.
- **Escaping.** Jinja2 autoescaping for every value from the submission; the only markup
  inserted as is is the SVG plot, drawn by this package from feature names and numbers.
  A Content-Security-Policy forbids scripts and outside resources.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import hmac
import math
import os
import re
import secrets
import sqlite3
from importlib import resources
from pathlib import Path
from urllib.parse import quote, unquote, urlencode, urlsplit

import jinja2
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError

from scoring.messages import both, render
from scoring.model.features import BY_NAME
from scoring.schema import CLASS_ZH
from scoring.outputs.plots import shap_bars
from scoring.writers import write_csv
from scoring.regions import region_name
from scoring.schema import INDUSTRIES, OUTCOMES, SELECTIONS
from scoring.review.exchange import inspections_table
from scoring.review.run import ReviewRun, plan_arms
from scoring.review.store import DB_NAME, FIELD_ZH, ReviewStore, Verdict, verdict_errors

PAGE_SIZE = 50
TOP_REASONS = 5
FLAGS = {"flagged": "已标记（全部）", "missing": "疑似服务缺失", "poor_quality": "疑似服务质量差", "unflagged": "未标记", "all": "全部保单"}
#: Added to the list's filter when the app is given an inspection plan (scoring sample).
PLAN_FLAGS = {"plan": "抽查计划（全部）", "plan_random": "抽查计划·随机组", "plan_risk": "抽查计划·风险组"}
STATUSES = {"all": "全部", "unreviewed": "未复核", "reviewed": "已复核"}
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
#: Largest verdict form accepted (bytes): notes of a few thousand characters fit many times over.
FORM_LIMIT = 64 * 1024


BEIJING = dt.timezone(dt.timedelta(hours=8), "北京时间")  # China keeps UTC+8 all year


def beijing(iso: str) -> str:
    """A recorded UTC timestamp as Beijing time, to the second ("2025-11-03 17:04:05")."""
    try:
        t = dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def earlier_verdicts(store: "ReviewStore", run: dict) -> str:
    """What a reviewer should know on opening a run that already has verdicts ("" if none)."""
    cur = store.current()
    if cur.empty:
        return ""
    zh, en = render("app.earlier", n=len(cur))
    finished = run.get("finished_at")
    if finished:
        older = int((pd.to_datetime(cur["recorded_at"], utc=True) < pd.to_datetime(finished, utc=True)).sum())
        if older:
            more = render("app.earlier_older", older=older, when=beijing(finished))
            zh, en = zh + more[0], f"{en}; {more[1]}"
    return f"{zh} / {en}"


def _env() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: resources.files("scoring").joinpath(f"templates/review/{name}").read_text("utf-8"))
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["pct"] = lambda x: "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x) * 100:.1f}%"
    env.globals.update(OUTCOMES=OUTCOMES, SELECTIONS=SELECTIONS, CLASS_ZH=CLASS_ZH, FIELD_ZH=FIELD_ZH)
    return env


def reason_keys(run: ReviewRun, policy_id: str) -> list[dict]:
    """The reasons a reviewer can agree or disagree with: top model reasons, then each rule."""
    out = []
    rec = run.explanation(policy_id)
    if rec:
        for c in [c for c in rec["contributions"] if c["shap"] > 0 and c.get("as_reason", True)][:TOP_REASONS]:
            out.append({"key": f"model:{c['feature']}", "kind": "模型", "text": c["text_zh"], "shap": c["shap"]})
    seen = set()
    for f in run.policy_findings(policy_id):
        if f["rule_code"] not in seen:
            seen.add(f["rule_code"])
            out.append({"key": f"rule:{f['rule_code']}", "kind": "规则", "text": f["message_zh"], "shap": None})
    return out


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: A Host header as RFC 9110 writes it: a name or IPv4 address, or an IPv6 address in brackets,
#: then an optional port of digits; nothing else (no user info, no list, no trailing name).
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?))(?::(?P<port>[0-9]{1,5}))?")


def _host_name(header: str) -> str | None:
    """The name in a Host header, without port or IPv6 brackets; None for anything that is not a
    well-formed Host (``127.0.0.1:8765.evil.com``, ``a@evil.com``, ``a, evil.com``)."""
    m = _HOST.fullmatch(header.strip().lower())
    if m is None:
        return None
    return m.group("v6") or m.group("name")


def policy_url(policy_id: str) -> str:
    """A policy page's address: the id in hexadecimal (its UTF-8 bytes), so that no id (one holding
    ``/../``, ``?``, ``#`` or a lone ``.``) can make a link or a form reach another page."""
    return "/policy/" + str(policy_id).encode("utf-8").hex()


def _policy_of(key: str) -> str | None:
    try:
        return bytes.fromhex(key).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


class _Current:
    """The run the app serves, opened again when ``scoring score`` has replaced the run directory
    since (its ``run.json`` is another file): byte offsets into an explanations file that was
    replaced would read another policy's line."""

    def __init__(self, run_dir: Path, submission):
        self.run_dir, self.submission = Path(run_dir), submission
        self.stamp = None
        ReviewRun.check(self.run_dir)  # a folder that is not a finished run is said at once
        self.refresh()

    def _stamp(self):
        st = os.stat(self.run_dir / "run.json")
        return st.st_ino, st.st_mtime_ns, st.st_size

    def refresh(self) -> None:
        try:
            stamp = self._stamp()
        except OSError:
            return  # mid-swap: the last run read stays until the new one is whole
        if stamp == self.stamp:
            return
        run = ReviewRun.open(self.run_dir, self.submission)
        self.run = run
        self.insurers = sorted(run.scores["insurer_id"].unique())  # filter choices, fixed for the run
        self.codes = sorted(run.findings["rule_code"].unique())
        self.rule_names = dict(zip(run.findings["rule_code"], run.findings["rule_name_zh"]))
        self.stamp = stamp


def create_app(run_dir: str | Path, db: str | Path | None = None, token: str | None = None,
               submission: str | Path | None = None, host: str = "127.0.0.1", plan: str | Path | None = None) -> FastAPI:
    """``plan``: an inspection plan (``scoring sample``): the list can show its arms, and a verdict
    on a policy of its random arm is recorded as a random inspection unless the reviewer says otherwise."""
    arms = plan_arms(plan)
    flags = {**FLAGS, **PLAN_FLAGS} if arms else FLAGS
    current = _Current(Path(run_dir), submission)
    store = ReviewStore(db or Path(run_dir) / DB_NAME)
    env = _env()
    env.globals["policy_url"] = policy_url
    secret = secrets.token_bytes(32)
    app = FastAPI(title="安责险复核 / review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.current, app.state.store = current, store

    def csrf_for(session: str) -> str:
        return hmac.new(secret, session.encode(), hashlib.sha256).hexdigest()

    # DNS rebinding: a page on evil.example that resolves to 127.0.0.1 is same-origin to this app,
    # but its requests say "Host: evil.example". Only the names this app was bound to are answered;
    # a token-protected app bound to every address (0.0.0.0) answers any name that brings the token.
    allowed = set(LOOPBACK_HOSTS) | ({_host_name(host)} if token is not None else set())
    any_host = token is not None and host in ("0.0.0.0", "::")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        name = _host_name(request.headers.get("host", ""))
        if name is None or (not any_host and name not in allowed):
            return Response("\n".join(render("app.host")) + "\n",
                            status_code=421, media_type="text/plain; charset=utf-8")
        if token is not None:
            given = request.query_params.get("token")
            auth = request.headers.get("authorization", "")
            cookie = request.cookies.get("review_token", "")
            ok = any(hmac.compare_digest(x.encode(), token.encode()) for x in
                     (given or "", auth[7:] if auth.lower().startswith("bearer ") else "", cookie) if x)
            if not ok:
                return Response("\n".join(render("app.token")) + "\n", status_code=401,
                                media_type="text/plain; charset=utf-8", headers={"WWW-Authenticate": "Bearer"})
            if given:  # swap the token in the address for a cookie, then drop it from the address
                q = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                resp = RedirectResponse(request.url.path + ("?" + urlencode(q) if q else ""), status_code=303)
                resp.set_cookie("review_token", token, httponly=True, samesite="strict")
                return resp
        session = request.cookies.get("review_session") or secrets.token_hex(16)
        request.state.session = session
        current.refresh()
        response = await call_next(request)
        if "review_session" not in request.cookies:
            response.set_cookie("review_session", session, httponly=True, samesite="strict")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # no-referrer would make form posts send Origin: null
        response.headers["Cache-Control"] = "no-store"
        return response

    async def checked_form(request: Request):
        """The posted form, once its origin and CSRF token are verified (403 otherwise).

        The verdict form is a small URL-encoded body: anything else (a multipart upload, which the
        form parser would spool to disk before the token is read) is refused unread, and the body
        is read only up to :data:`FORM_LIMIT` bytes (413 beyond)."""
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise HTTPException(403, "跨站请求被拒绝 / cross-site request refused")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/x-www-form-urlencoded":
            raise HTTPException(415, "只接受 URL 编码的表单（不接受文件上传）/ only URL-encoded forms are accepted (no uploads)")
        too_large = HTTPException(413, f"表单超过 {FORM_LIMIT} 字节 / form larger than {FORM_LIMIT} bytes")
        length = request.headers.get("content-length", "")
        if length and (not length.isdigit() or int(length) > FORM_LIMIT):
            raise too_large
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > FORM_LIMIT:
                raise too_large
        request._body = bytes(body)  # Starlette's form parser reads the checked body from here
        form = await request.form()
        session = request.cookies.get("review_session")
        if not session or not hmac.compare_digest(str(form.get("csrf_token", "")).encode(), csrf_for(session).encode()):
            raise HTTPException(403, both("app.csrf"))
        return form

    def page(name: str, request: Request, status: int = 200, **ctx) -> HTMLResponse:
        html = env.get_template(name).render(run=current.run.run, csrf=csrf_for(request.state.session), **ctx)
        return HTMLResponse(html, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, insurer: str = "", region: str = "", industry: str = "", rule: str = "",
              flag: str = "flagged", status: str = "all", page_no: int = 1):
        run, rule_names = current.run, current.rule_names
        s = run.scores
        cur = store.current().set_index("policy_id")
        mask = pd.Series(True, index=s.index)
        if flag == "flagged":
            mask &= s["flag"] != ""
        elif flag == "unflagged":
            mask &= s["flag"] == ""
        elif flag in ("missing", "poor_quality"):
            mask &= s["flag"] == flag
        elif flag in PLAN_FLAGS and arms:
            wanted = {"plan": ("random", "risk"), "plan_random": ("random",), "plan_risk": ("risk",)}[flag]
            mask &= s.index.map(lambda p: arms.get(p) in wanted).to_numpy(dtype=bool)
        if insurer:
            mask &= s["insurer_id"] == insurer
        if region:
            mask &= s["region_code"].str.startswith(region)
        if industry:
            mask &= s["industry"] == industry
        if rule:
            mask &= (";" + s["rule_codes"] + ";").str.contains(f";{rule};", regex=False)
        if status == "reviewed":
            mask &= s.index.isin(cur.index)
        elif status == "unreviewed":
            mask &= ~s.index.isin(cur.index)
        sel = s[mask.to_numpy()]
        pages = max(1, math.ceil(len(sel) / PAGE_SIZE))
        page_no = min(max(1, page_no), pages)
        part = sel.iloc[(page_no - 1) * PAGE_SIZE: page_no * PAGE_SIZE]
        rows = []
        for (pid, r), name in zip(part.iterrows(), run.names(part.index)):
            c = cur.loc[pid] if pid in cur.index else None
            rows.append({**r.to_dict(), "enterprise_name": name,
                         "rule_names": "、".join(rule_names.get(c, c) for c in str(r["rule_codes"]).split(";") if c),
                         "region_name": region_name(r["region_code"]), "industry_zh": INDUSTRIES.get(r["industry"], r["industry"]),
                         "flag_zh": CLASS_ZH.get(r["flag"], ""), "verdict": OUTCOMES[c["outcome"]] if c is not None else ""})
        params = {"insurer": insurer, "region": region, "industry": industry, "rule": rule, "flag": flag, "status": status}
        return page("list.html.j2", request, rows=rows, total=len(sel), page_no=page_no, pages=pages, params=params,
                    query=lambda **kw: "?" + urlencode({**params, **kw}), insurers=current.insurers, industries=INDUSTRIES,
                    rule_codes=current.codes, rule_names=rule_names, flags=flags, statuses=STATUSES, reviewed=len(cur),
                    note=run.submission_note)

    def policy_page(request: Request, policy_id: str, errors=None, form=None, status: int = 200, saved: int = 0):
        run = current.run
        p = run.policy(policy_id)
        if p is None:
            return page("missing.html.j2", request, status=404, policy_id=policy_id)
        rec = run.explanation(policy_id)
        plot = None
        if rec:
            plot = Markup(shap_bars(rec, CLASS_ZH[rec["flag"]]))
        history = [{**h, "recorded_bj": beijing(h["recorded_at"])} for h in store.history(policy_id)]
        last = history[-1] if history else None
        default = form or {
            "outcome": last["outcome"] if last else "",
            "selection": last["selection"] if last else ("random" if arms.get(policy_id) == "random" else "targeted"),
            "inspection_date": last["inspection_date"] if last else "",
            "inspector_org": last["inspector_org"] if last else unquote(request.cookies.get("inspector_org", "")),
            "notes": last["notes"] if last else "", "reviewer": unquote(request.cookies.get("reviewer", "")),
            "reasons": last["reasons"] if last else {},
        }
        return page("policy.html.j2", request, status=status, p=p, rec=rec, plot=plot, findings=run.policy_findings(policy_id),
                    services=run.policy_services(policy_id), reasons=reason_keys(run, policy_id), history=history[::-1],
                    form=default, errors=errors or [], saved=saved, note=run.submission_note,
                    feature_zh={k: v.zh for k, v in BY_NAME.items()})

    @app.get("/policy/{key}", response_class=HTMLResponse)
    def policy(request: Request, key: str, saved: int = 0):  # saved: 1 recorded, 2 the same as the current verdict
        policy_id = _policy_of(key)
        if policy_id is None:
            return page("missing.html.j2", request, status=404, policy_id=key)
        return policy_page(request, policy_id, saved=saved if saved in (1, 2) else 0)

    @app.post("/policy/{key}/review", response_class=HTMLResponse)
    async def review(request: Request, key: str):
        form = await checked_form(request)
        run = current.run
        policy_id = _policy_of(key)
        if policy_id is None or run.policy(policy_id) is None:
            return page("missing.html.j2", request, status=404, policy_id=policy_id or key)
        if str(form.get("policy_id", policy_id)) != policy_id:  # the page it came from named another policy
            raise HTTPException(400, both("app.form_other_policy"))
        keys = {r["key"] for r in reason_keys(run, policy_id)}
        reasons = {k[len("reason__"):]: str(v) for k, v in form.multi_items()
                   if k.startswith("reason__") and k[len("reason__"):] in keys and v in ("agree", "disagree")}
        data = {k: str(form.get(k, "")).strip() for k in ("outcome", "selection", "inspection_date", "inspector_org", "notes", "reviewer")}
        try:
            v = Verdict(policy_id=policy_id, reasons=reasons, **{**data, "selection": data["selection"] or "targeted"})
        except ValidationError as e:
            return policy_page(request, policy_id, errors=verdict_errors(e), form={**data, "reasons": reasons}, status=422)
        event = store.record(v, source="web", client=request.client.host if request.client else "")
        resp = RedirectResponse(f"{policy_url(policy_id)}?saved={1 if event is not None else 2}", status_code=303)
        resp.set_cookie("reviewer", quote(v.reviewer), httponly=True, samesite="strict")  # remembered for the next verdict
        resp.set_cookie("inspector_org", quote(v.inspector_org), httponly=True, samesite="strict")
        return resp

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def storage_failed(request: Request, exc):
        """The disk is full or the database cannot be written: said in both languages, nothing half-saved."""
        return Response("\n".join(render("app.storage", detail=exc)) + "\n",
                        status_code=503, media_type="text/plain; charset=utf-8")

    @app.get("/stats", response_class=HTMLResponse)
    def stats(request: Request):
        return page("stats.html.j2", request, rule_names=current.rule_names, **review_stats(current.run, store))

    @app.get("/export.csv")
    def export():
        buf = io.BytesIO()
        write_csv(inspections_table(store), buf)  # the CLI export's writer: formula-safe cells
        return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="inspections.csv"'})

    return app


def review_stats(run: ReviewRun, store: ReviewStore) -> dict:
    """How the flags and their reasons held up on the policies reviewed so far."""
    cur = store.current()
    if cur.empty:
        return {"n": 0, "by_flag": [], "by_reason": [], "agreement": [], "by_rule": []}
    s = run.scores.reindex(cur["policy_id"])
    cur = cur.assign(flag=s["flag"].fillna("").to_numpy(), rule_codes=s["rule_codes"].fillna("").to_numpy())
    problem = cur["outcome"] != "adequate"
    # a flag is confirmed when the verdict names its class; no flag is confirmed by "adequate"
    cur["confirmed"] = (cur["flag"] == cur["outcome"]) | ((cur["flag"] == "") & ~problem)
    cur["other_problem"] = (cur["flag"] != "") & problem & ~cur["confirmed"]
    by_flag = [{"flag": CLASS_ZH.get(flag, "未标记"), "n": len(g), "confirmed": int(g["confirmed"].sum()),
                "other_problem": int(g["other_problem"].sum()),
                "not_confirmed": int((~g["confirmed"] & ~g["other_problem"]).sum()), "rate": g["confirmed"].mean()}
               for flag, g in cur.groupby("flag", sort=True)]
    top = []
    for pid in cur["policy_id"]:
        rec = run.explanation(pid)
        pos = [c for c in rec["contributions"] if c["shap"] > 0 and c.get("as_reason", True)] if rec else []
        top.append(BY_NAME[pos[0]["feature"]].zh if pos else "")
    cur["top_reason"] = top
    by_reason = [{"reason": r, "n": len(g), "confirmed": int(g["confirmed"].sum()), "rate": g["confirmed"].mean()}
                 for r, g in cur[cur["top_reason"] != ""].groupby("top_reason")]
    by_reason.sort(key=lambda d: (-d["n"], d["reason"]))
    agreement: dict[str, dict] = {}
    for reasons in cur["reasons"]:
        for k, v in reasons.items():
            a = agreement.setdefault(k, {"key": k, "agree": 0, "disagree": 0})
            a[v] += 1
    for a in agreement.values():
        kind, _, name = a["key"].partition(":")
        a["text"] = BY_NAME[name].zh if kind == "model" and name in BY_NAME else name
        a["kind"] = "模型" if kind == "model" else "规则"
    by_rule = []
    codes = cur["rule_codes"].str.split(";").explode()
    for code, idx in codes[codes != ""].groupby(codes[codes != ""]).groups.items():
        g = cur.loc[idx]
        by_rule.append({"rule": code, "n": len(g), "problem": int((g["outcome"] != "adequate").sum()),
                        "rate": (g["outcome"] != "adequate").mean()})
    by_rule.sort(key=lambda d: (-d["n"], d["rule"]))
    return {"n": len(cur), "by_flag": by_flag, "by_reason": by_reason,
            "agreement": sorted(agreement.values(), key=lambda a: (a["kind"], -a["agree"] - a["disagree"], a["key"])),
            "by_rule": by_rule}
