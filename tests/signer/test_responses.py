"""JSON answers: a model's answer is the JSON of its ``model_dump`` (unset fields left out)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from signer.models import PartsResponse, PartUrl, PresignResponse, SingleUpload
from signer.responses import NO_STORE, json_response

text = st.text(max_size=40)


@given(key=text, url=text, header=text, get_url=text)
def test_a_model_answer_is_the_json_of_its_dump(
    key: str, url: str, header: str, get_url: str
) -> None:
    answers = [
        PresignResponse(
            object_key=key,
            key_base=None,  # a None field is left out
            bucket="uploads",
            mime=header,
            strategy="single",
            expires_at="2026-11-23T08:45:00Z",
            intent_token="t.o.k",
            token_expires_at="2026-11-23T08:45:00Z",
            upload=SingleUpload(url=url, headers={"Content-Type": header}),
            get_url=get_url,
        ),
        PartsResponse(parts=[PartUrl(part_number=1, url=url, headers={})], expires_at="x"),
    ]
    for model in answers:
        response = json_response(model)
        dumped = model.model_dump(mode="json", exclude_none=True)
        # Byte for byte what json.dumps of the dump gives (Starlette's JSONResponse).
        expected = json.dumps(dumped, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        assert response.body == expected
        assert response.media_type == "application/json"
        assert response.headers["cache-control"] == NO_STORE["Cache-Control"]
