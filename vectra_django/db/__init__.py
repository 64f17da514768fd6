"""The Django side: fields, the model mixin, querysets and search, sync and reindexing.

It uses the client (:mod:`vectra_django.client`) and public names only, never a provider's
own modules.
"""
