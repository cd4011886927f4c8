"""An AI agent's side of docs/mcp.md: the official MCP Python SDK's client,
with its OAuth support, against an MCP server behind scopegate.

It knows only the MCP server's URL. From the 401 it learns where the
protected resource metadata is, from that the authorization server; it
registers itself (RFC 7591), has its user sign in and consent (here the
script plays the user, filling in scopegate's pages), and calls tools. When
a tool needs more, the 403 names the scopes; the SDK asks for them, the user
consents again, and the call goes through.

    python examples/mcp/agent.py http://127.0.0.1:8080/mcp alice 'correct horse battery'
"""

import asyncio
import html
import re
import sys
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

CALLBACK = "http://127.0.0.1:33418/callback"


class Memory:
    """Where the SDK keeps the tokens and the registration (a real agent would persist them)."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class User:
    """The person at the browser: signs in once, then approves each consent page."""

    def __init__(self, login: str, password: str):
        self.login, self.password = login, password
        self.browser = httpx2.AsyncClient(follow_redirects=False)
        self.answer: dict[str, str] = {}
        self.consented: list[str] = []

    @staticmethod
    def form(page: str) -> dict[str, str]:
        fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
        return {html.unescape(k): html.unescape(v) for k, v in fields}

    async def open(self, url: str) -> None:
        response = await self.browser.get(url)
        for _ in range(10):
            if response.status_code in (302, 303):
                target = urljoin(str(response.url), response.headers["location"])
                if target.startswith(CALLBACK):
                    self.answer = {k: v[0] for k, v in parse_qs(urlparse(target).query).items()}
                    return
                response = await self.browser.get(target)
                continue
            page = response.text
            if 'name="password"' in page:
                fields = self.form(page) | {"action": "login", "login": self.login, "password": self.password}
            elif 'value="approve"' in page:
                self.consented.append(self.form(page).get("scope", ""))
                print("consent page:", " | ".join(re.findall(r'<div class="allows">([^<]*)</div>', page)))
                fields = self.form(page) | {"action": "approve"}
            else:
                raise RuntimeError(f"unexpected page {response.status_code}: {page[:300]}")
            response = await self.browser.post(urljoin(str(response.url), "/oauth2/authorize"), data=fields)
        raise RuntimeError("too many steps")

    async def callback(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=self.answer["code"], state=self.answer.get("state"), iss=self.answer.get("iss"))


async def main(server_url: str, login: str, password: str) -> None:
    user = User(login, password)
    auth = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="Example Agent",
            redirect_uris=[CALLBACK],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=Memory(),
        redirect_handler=user.open,
        callback_handler=user.callback,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with Client(streamable_http_client(server_url, http_client=http)) as client:
            tools = await client.list_tools()
            print("tools:", " ".join(t.name for t in tools.tools), f"(cacheScope {getattr(tools, 'cache_scope', None)})")
            orders = await client.call_tool("list_orders", {})
            print("list_orders:", orders.content[0].text if orders.content else orders)
            made = await client.call_tool("create_order", {"total": 12.5})
            print("create_order:", made.content[0].text if made.content else made)
    print("consented to:", " then ".join(user.consented))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
