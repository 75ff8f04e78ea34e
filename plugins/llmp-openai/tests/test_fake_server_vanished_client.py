"""A client that vanishes while the fake server still holds an unsent reply must free the server.

A killed client process leaves its HTTP/2 streams with replies the server could not send (the
client's flow-control window was full). hypercorn 0.18 then waits on those replies forever, so
the fake counted them "in flight" for the rest of the session and every later test that waited
for an idle server failed. `llmp.testing._server` closes the buffers of a closed connection.
"""

from __future__ import annotations

import json
import socket
import ssl

import h2.config
import h2.connection
import h2.settings

from llmp_openai.testing import FakeOpenAIServer


def test_a_reply_never_read_is_dropped_when_the_connection_goes(fake_openai: FakeOpenAIServer) -> None:
    context = ssl.create_default_context(cafile=str(fake_openai.ca_path))
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", fake_openai.port), timeout=10)
    tls = context.wrap_socket(raw, server_hostname="127.0.0.1")
    try:
        assert tls.selected_alpn_protocol() == "h2"
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        # A window of zero: the server may send headers but not one byte of the body.
        connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        body = json.dumps({"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]})
        headers = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", f"127.0.0.1:{fake_openai.port}"),
            (":path", "/v1/chat/completions"),
            ("authorization", f"Bearer {fake_openai.api_key}"),
            ("content-type", "application/json"),
        ]
        connection.send_headers(1, headers)
        connection.send_data(1, body.encode(), end_stream=True)
        tls.sendall(connection.data_to_send())
        # The response headers arrive: the handler has run and its body is stuck in the buffer.
        got_headers = False
        while not got_headers:
            data = tls.recv(65536)
            assert data, "the server closed the connection before answering"
            for event in connection.receive_data(data):
                got_headers |= type(event).__name__ == "ResponseReceived"
            tls.sendall(connection.data_to_send())
        assert fake_openai.in_flight == 1
    finally:
        tls.close()
    assert fake_openai.wait_idle(10), "the handler still waits to send to a connection that is gone"
