"""HTTP/JSON gateway in front of the gRPC services, driven by their google.api.http annotations."""
