"""One router per page family; each route is a thin shell over kb/, ingest/ and search/."""
