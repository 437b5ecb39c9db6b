"""The Talon.One Integration API operations the simulator serves: the one declaration its routes,
the journal, fault rules, metrics and docs read (core/operations). Names are the OpenAPI
document's operationIds as the docs write them (capitalised); summaries are its own."""

from __future__ import annotations

from simulator.core.operations import Operation, OperationTable


def talonone(name: str, method: str, path: str, summary: str) -> Operation:
    return Operation("talonone", name, method, (path,), summary=summary)


SESSION = "/v2/customer_sessions/{customerSessionId}"
PROGRAM = "/v1/loyalty_programs/{loyaltyProgramId}"
PROFILE_LEDGER = PROGRAM + "/profile/{integrationId}"
CARD = PROGRAM + "/cards/{loyaltyCardId}"

OPERATIONS = OperationTable(
    "talonone",
    [
        # Customer sessions, profiles, events, catalogs
        talonone("UpdateCustomerSessionV2", "PUT", SESSION, "Update customer session"),
        talonone("GetCustomerSession", "GET", SESSION, "Get customer session"),
        talonone("ReopenCustomerSession", "PUT", SESSION + "/reopen", "Reopen customer session"),
        talonone("ReturnCartItems", "POST", SESSION + "/returns", "Return cart items"),
        talonone(
            "UpdateCustomerProfileV2",
            "PUT",
            "/v2/customer_profiles/{integrationId}",
            "Update customer profile",
        ),
        talonone(
            "UpdateCustomerProfilesV2",
            "PUT",
            "/v2/customer_profiles",
            "Update multiple customer profiles",
        ),
        talonone("TrackEventV2", "POST", "/v2/events", "Track event"),
        talonone("TrackEventV3", "POST", "/v3/events", "Track advanced event"),
        talonone("GetEventV3", "GET", "/v3/events/{integrationId}", "Get advanced event"),
        talonone(
            "IntegrationGetAllCampaigns",
            "GET",
            "/v1/integration/campaigns",
            "List all running campaigns",
        ),
        talonone(
            "GetCustomerAchievements",
            "GET",
            "/v1/customer_profiles/{integrationId}/achievements",
            "List customer's available achievements",
        ),
        talonone(
            "GetCustomerAchievementHistory",
            "GET",
            "/v1/customer_profiles/{integrationId}/achievements/{achievementId}",
            "List customer's achievement history",
        ),
        talonone("SyncCatalog", "PUT", "/v1/catalogs/{catalogId}/sync", "Sync cart item catalog"),
        talonone("BestPriorPrice", "POST", "/v1/best_prior_price", "Fetch best prior price"),
        # Coupons, referrals, audiences, customer data
        talonone(
            "CreateCouponReservation",
            "POST",
            "/v1/coupon_reservations/{couponValue:path}",
            "Create coupon reservation",
        ),
        talonone(
            "DeleteCouponReservation",
            "DELETE",
            "/v1/coupon_reservations/{couponValue:path}",
            "Delete coupon reservations",
        ),
        talonone(
            "GetReservedCustomers",
            "GET",
            "/v1/coupon_reservations/customerprofiles/{couponValue:path}",
            "List customers that have this coupon reserved",
        ),
        talonone("CreateReferral", "POST", "/v1/referrals", "Create referral code for an advocate"),
        talonone(
            "CreateReferralsForMultipleAdvocates",
            "POST",
            "/v1/referrals_for_multiple_advocates",
            "Create referral codes for multiple advocates",
        ),
        talonone("CreateAudienceV2", "POST", "/v2/audiences", "Create audience"),
        talonone("UpdateAudienceV2", "PUT", "/v2/audiences/{audienceId}", "Update audience name"),
        talonone("DeleteAudienceV2", "DELETE", "/v2/audiences/{audienceId}", "Delete audience"),
        talonone(
            "DeleteAudienceMembershipsV2",
            "DELETE",
            "/v2/audiences/{audienceId}/memberships",
            "Delete audience memberships",
        ),
        talonone(
            "UpdateAudienceCustomersAttributes",
            "PUT",
            "/v2/audience_customers/{audienceId}/attributes",
            "Update profile attributes for all customers in audience",
        ),
        talonone(
            "UpdateCustomerProfileAudiences",
            "POST",
            "/v2/customer_audiences",
            "Update multiple customer profiles' audiences",
        ),
        talonone(
            "DeleteCustomerData",
            "DELETE",
            "/v1/customer_data/{integrationId:path}",
            "Delete customer's personal data",
        ),
        talonone(
            "GetCustomerInventory",
            "GET",
            "/v1/customer_profiles/{integrationId:path}/inventory",
            "List customer data",
        ),
        # Loyalty
        talonone(
            "GetLoyaltyBalances",
            "GET",
            PROFILE_LEDGER + "/balances",
            "Get customer's loyalty balances",
        ),
        talonone(
            "GetLoyaltyProgramProfilePoints",
            "GET",
            PROFILE_LEDGER + "/points",
            "List customer's unused loyalty points",
        ),
        talonone(
            "GetLoyaltyProgramProfileTransactions",
            "GET",
            PROFILE_LEDGER + "/transactions",
            "List customer's loyalty transactions",
        ),
        talonone("GenerateLoyaltyCard", "POST", PROGRAM + "/cards", "Generate loyalty card"),
        talonone(
            "LinkLoyaltyCardToProfile",
            "POST",
            "/v2/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/link_profile",
            "Link customer profile to card",
        ),
        talonone("GetLoyaltyCardBalances", "GET", CARD + "/balances", "Get card's point balances"),
        talonone(
            "GetLoyaltyCardPoints", "GET", CARD + "/points", "List card's unused loyalty points"
        ),
        talonone(
            "GetLoyaltyCardTransactions", "GET", CARD + "/transactions", "List card's transactions"
        ),
        talonone(
            "ActivateLoyaltyPoints", "POST", PROGRAM + "/activate_points", "Activate loyalty points"
        ),
        talonone(
            "DeleteLoyaltyTransactionsFromLedgers",
            "POST",
            PROFILE_LEDGER + "/delete_transactions",
            "Delete customer's transactions from loyalty ledgers",
        ),
        talonone(
            "UnlinkLoyaltyCardFromProfile",
            "POST",
            "/v2/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/unlink_profile",
            "Unlink customer profile from a loyalty card",
        ),
    ],
)
