"""Alert events: what a detector transition says, with the evidence that explains it."""
