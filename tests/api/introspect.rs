//! Tests for this endpoint arrive with the endpoint.
