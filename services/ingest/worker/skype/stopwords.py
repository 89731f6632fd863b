"""Words too common to tell anything, left out of the top-words list (English, and the
most frequent of a few languages Skype users write)."""

# ruff: noqa: RUF001  (Cyrillic stop words look like Latin letters, on purpose)
from __future__ import annotations

_ENGLISH = """
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't
doing don't down during each few for from further get got had hadn't has hasn't have haven't
having he he'd he'll he's her here here's hers herself him himself his how how's i i'd i'll
i'm i've if in into is isn't it it's its itself just let's like me more most mustn't my
myself no nor not now of off oh ok okay on once only or other ought our ours ourselves out
over own same shan't she she'd she'll she's should shouldn't so some such than that that's
the their theirs them themselves then there there's these they they'd they'll they're
they've this those through to too under until up us very was wasn't we we'd we'll we're
we've were weren't what what's when when's where where's which while who who's whom why
why's will with won't would wouldn't yeah yes you you'd you'll you're you've your yours
yourself yourselves also one two say said go going will would could know think see come
take make want well even back way thing things really im dont thats its
"""
_OTHERS = """
и в не на я что с он а как это по но из у за то ты мы все так же да
de la que el en y a los se del las un por con no una su para es al lo como más pero
le et les des un une est pas pour qui dans ce il je ne sur se au
der die und das ist nicht ich zu ein es mit sie den auf dem
di che il e la per un non in una sono mi
"""
STOPWORDS: frozenset[str] = frozenset((_ENGLISH + _OTHERS).split())
