"""Each status as the customer reads it: words and an emoji (the actions and the notifications share them)."""

ORDER_STATUS = {
    "received": ("received", "📝"),
    "in_production": ("in production", "🏭"),
    "ready": ("ready for dispatch", "📦"),
    "shipped": ("shipped", "🚚"),
    "delivered": ("delivered", "✅"),
    "cancelled": ("cancelled", "✖️"),
}
DEFECT_STATUS = {
    "open": ("open", "🟠"),
    "investigating": ("under investigation", "🔎"),
    "resolved": ("resolved", "✅"),
}
RUN_STATUS = {"planned": "planned", "running": "running", "done": "done", "delayed": "delayed ⚠️"}
