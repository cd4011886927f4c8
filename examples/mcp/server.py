"""A storefront's MCP server (the official Python SDK), for docs/mcp.md.

It trusts scopegate in front of it: it checks no token itself, and reads who
is calling from the X-Scopegate-* headers. Its lists are marked public
(cacheable by anyone) on purpose: scopegate filters them per caller and marks
them private.

    python examples/mcp/server.py --listen 127.0.0.1:8000
"""

import argparse

from mcp.server.caching import CacheHint
from mcp.server.mcpserver import MCPServer

ORDERS = {"1001": {"id": "1001", "total": 42.0, "status": "paid"}}

server = MCPServer(
    "storefront",
    cache_hints={
        "tools/list": CacheHint(ttl_ms=60_000, scope="public"),
        "prompts/list": CacheHint(ttl_ms=60_000, scope="public"),
        "resources/list": CacheHint(ttl_ms=60_000, scope="public"),
        "resources/templates/list": CacheHint(ttl_ms=60_000, scope="public"),
    },
)


@server.tool()
def list_orders() -> list[dict]:
    """List the store's orders."""
    return list(ORDERS.values())


@server.tool()
def create_order(total: float) -> dict:
    """Create an order."""
    order = {"id": str(1001 + len(ORDERS)), "total": total, "status": "new"}
    ORDERS[order["id"]] = order
    return order


@server.tool()
def refund_order(order_id: str) -> dict:
    """Refund an order."""
    ORDERS[order_id]["status"] = "refunded"
    return ORDERS[order_id]


@server.tool()
def search_catalog(query: str) -> list[str]:
    """Search the catalog."""
    return [f"{query} (sample product)"]


@server.prompt()
def summarize_orders() -> str:
    """Summarize the store's orders."""
    return "Summarize these orders: " + ", ".join(ORDERS)


@server.resource("orders://{order_id}")
def order(order_id: str) -> dict:
    """One order record."""
    return ORDERS.get(order_id, {})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:8000", help="host:port")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server.run("streamable-http", host=host, port=int(port), json_response=True, stateless_http=True)
