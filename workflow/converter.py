"""The data converter every Temporal client and worker of PicaDaily uses: pydantic models in,
pydantic models out."""

from temporalio.contrib.pydantic import pydantic_data_converter

data_converter = pydantic_data_converter
