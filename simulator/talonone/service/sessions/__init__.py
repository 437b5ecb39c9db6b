"""Customer sessions, one module per use case: `update` (UpdateCustomerSessionV2), `read`
(GetCustomerSession), `reopen` (ReopenCustomerSession), `returns` (ReturnCartItems); below them
`request` (the body's checks), `cart`, `store` (the rows) and `views` (the answers)."""
