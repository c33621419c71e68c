"""The unified social credit code's check character (GB 32100-2015)."""
import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.submission import uscc

CODES = uscc.generate(np.random.default_rng(1), 200)


def test_generated_codes_are_valid_and_their_check_character_is_the_last():
    assert uscc.valid(CODES).all()
    assert all(uscc.check_char(c[:17]) == c[17] for c in CODES[:50])


@settings(max_examples=200, deadline=None)
@given(i=st.integers(0, 199), pos=st.integers(0, 17), shift=st.integers(1, 30))
def test_any_one_character_changed_within_the_alphabet_is_caught(i, pos, shift):
    code = CODES[i]
    k = uscc.ALPHABET.index(code[pos])
    bad = code[:pos] + uscc.ALPHABET[(k + shift) % 31] + code[pos + 1:]
    assert not uscc.valid([bad])[0]


def test_letters_outside_the_alphabet_wrong_lengths_nulls_and_wide_characters_are_invalid():
    good = CODES[0]
    cases = [good[:17] + "I", good[:17] + "O", good[:-1], good + "0", None, "", "９" + good[1:], good.lower()]
    assert not uscc.valid(pa.array(cases, pa.string())).any()
    assert uscc.valid([]).shape == (0,)
