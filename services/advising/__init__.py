"""The advisors' interviews: schedules of a day or a week, conflicts, free slots, load, and
the outcomes an advisor records.

It may use the store and ``access``; it does not know job datings.
"""
