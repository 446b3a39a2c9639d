"""Azure AI Vision 4.0 compatibility: the contract, request parsing, the routes."""
