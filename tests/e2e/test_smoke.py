"""The assistant answers over the REST channel from the real action server and database."""


def test_hi_shows_the_main_menu_with_five_options(chat):
    """A customer saying hi gets the five-option main menu."""
    replies = chat("919800000001").say("hi")
    menus = [r for r in replies if r.get("buttons")]
    assert [b["title"] for b in menus[-1]["buttons"]] == [
        "Check Order Status", "Report Defect", "View Production Schedule", "Get Help & Support", "Back to Menu",
    ]


def test_typing_numbers_reaches_the_order_status(chat):
    """After the main menu, 1 opens Orders, 2 starts tracking, and the id answers with its status."""
    me = chat("919800000001")
    me.say("hi")
    assert "Orders" in me.text("1")
    assert "Which order" in me.text("2")
    answer = me.text("ORD-10001")
    assert "ORD-10001" in answer and "shipped" in answer
