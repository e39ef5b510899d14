"""Read-only JSON API of the knowledge base: ``/api/v1/knowledge/...``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from knowledge.repository import KnowledgeRepository, NotFound, snapshot
from knowledge.search import KnowledgeSearch

bp = Blueprint("knowledge_api", __name__, url_prefix="/api/v1/knowledge")


def _search() -> KnowledgeSearch:
    ext = current_app.extensions
    if "knowledge_search" not in ext:
        ext["knowledge_search"] = KnowledgeSearch(repository=_repo())
    return ext["knowledge_search"]


def _repo() -> KnowledgeRepository:
    ext = current_app.extensions
    if "knowledge_repository" not in ext:
        ext["knowledge_repository"] = KnowledgeRepository()
    return ext["knowledge_repository"]


def _error(status: int, code: str, message: str) -> tuple[Any, int]:
    return jsonify({"error": code, "message": message}), status


@bp.get("/search")
def search() -> Any:
    """Search services and FAQs: ``?q=<text>&k=<1-50>``."""
    q = request.args.get("q", "")
    limit = _search().settings.max_query_chars
    if not q.strip():
        return _error(400, "empty_query", "请输入要查询的问题 (parameter q is required)")
    if len(q) > limit:
        return _error(400, "query_too_long", f"问题太长，请控制在 {limit} 字以内 (q exceeds {limit} characters)")
    try:
        k = int(request.args.get("k", 5))
        if not 1 <= k <= 50:
            raise ValueError
    except ValueError:
        return _error(400, "bad_k", "k 应为 1 到 50 之间的整数")
    hits = _search().search(q, k=k)
    return jsonify({"query": q, "hits": [h.to_dict() for h in hits]})


@bp.get("/services")
def services() -> Any:
    """All services (guide fields included)."""
    return jsonify({"services": [snapshot(s) for s in _repo().list_services()]})


@bp.get("/services/<service_id>")
def service(service_id: str) -> Any:
    """One service with its live FAQs."""
    try:
        svc = _repo().get_service(service_id)
    except NotFound:
        return _error(404, "not_found", "没有找到这项服务")
    from common.clock import city_today

    data = snapshot(svc)
    data["faqs"] = [snapshot(f) for f in svc.faqs if f.is_live(city_today())]
    return jsonify(data)


@bp.get("/centers")
def centers() -> Any:
    """Service centres, optionally ``?district=`` and ``?service_id=``.

    ``public_phone`` is the number to show citizens: the published one, or 12345 until staff enter it.
    """
    rows = _repo().list_centers(district=request.args.get("district") or None,
                                service_id=request.args.get("service_id") or None)
    return jsonify({"centers": [{**snapshot(c), "public_phone": c.public_phone} for c in rows]})


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Any:
    """JSON errors for this API."""
    return _error(exc.code or 500, (exc.name or "error").lower().replace(" ", "_"), exc.description or "")
