"""Job datings between young people and companies: suggested pairs, the schedule of
meetings in the companies' time windows, the meetings and their outcomes, and the planning
page's data.

It may use the store and ``access``; it does not know the advisors' interviews.
"""
