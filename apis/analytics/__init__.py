"""Live learner analytics: kept up to date from events by the `analytics` consumer
(consumer.py), served by the analytics service (a student's progress, a class's progress and
presence), cached in Redis under versions the consumer bumps (cache.py)."""
