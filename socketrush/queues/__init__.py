"""Queues carry webhook jobs from the actors that notice events to the workers that send them."""
