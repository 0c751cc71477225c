"""Raw bytes -> ParsedMessage. Never raises: what is wrong with the input becomes a recorded defect."""
