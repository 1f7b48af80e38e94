build-wft/obj/tests/unit/test_b64.o: tests/unit/test_b64.c lib/base/b64.h \
 lib/base/buf.h lib/base/buf.h lib/base/hex.h lib/base/rnd.h
lib/base/b64.h:
lib/base/buf.h:
lib/base/buf.h:
lib/base/hex.h:
lib/base/rnd.h:
