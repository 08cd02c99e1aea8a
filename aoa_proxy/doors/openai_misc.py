"""The other OpenAI front doors: POST /v1/completions, /v1/embeddings and
/v1/images/generations, chat's steps."""

from __future__ import annotations

from aoa_proxy.doors.chat import openai_door
from aoa_proxy.providers import Endpoint

completions = openai_door(Endpoint.COMPLETIONS)
embeddings = openai_door(Endpoint.EMBEDDINGS)
images = openai_door(Endpoint.IMAGES)
