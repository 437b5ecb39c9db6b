"""The ECDP customers API operations the simulator serves (core/operations).

The ECDP docs name no operations ("POST method", "GET{id} method", ...): each is named by its
method and resource as those headings are. `PostCustomers` is the one POST, whose body's `mode`
chooses Add, Update or AddOrUpdate; `AddOrUpdateCustomers`, which named one of those modes, is
kept as an alias for fault rules written with it.
"""

from __future__ import annotations

from simulator.core.operations import Operation, OperationTable


def ecdp(name: str, method: str, path: str, summary: str, *aliases: str) -> Operation:
    return Operation("ecdp", name, method, (path,), aliases=aliases, summary=summary)


OPERATIONS = OperationTable(
    "ecdp",
    [
        ecdp(
            "PostCustomers",
            "POST",
            "/customers",
            "Add, update or add-or-update customers (body `mode`)",
            "AddOrUpdateCustomers",
        ),
        ecdp("GetCustomerById", "GET", "/customers/id/{id}", "Customer by ECDP id"),
        ecdp("GetCustomerByEmail", "GET", "/customers/email/{email:path}", "Customer by e-mail"),
        ecdp("GetCustomerByPhone", "GET", "/customers/phone/{phone:path}", "Customer by phone"),
        ecdp("GetCustomerByCrmId", "GET", "/customers/crmId/{crmId:path}", "Customer by CRM id"),
        ecdp("GetCustomerAttributes", "GET", "/customerattributes", "Custom attribute definitions"),
        ecdp("GetCustomerConsents", "GET", "/customerconsents", "Consent definitions"),
    ],
)
