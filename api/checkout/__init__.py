"""The hosted checkout page (`/pay/{id}`): see routes.py for the routes, view.py for what each
payment state tells the customer, render.py for the HTML, hub.py for the live updates."""

from api.checkout.routes import OPERATIONS, add_routes

__all__ = ["OPERATIONS", "add_routes"]
