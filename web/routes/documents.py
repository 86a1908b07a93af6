"""documents pages and endpoints."""

from fastapi import APIRouter

router = APIRouter()
