build-wft/obj/tests/unit/test_bech32.o: tests/unit/test_bech32.c \
 lib/base/bech32.h lib/base/rnd.h
lib/base/bech32.h:
lib/base/rnd.h:
