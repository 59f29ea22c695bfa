/*
 * logmine_internal.h - what the miner's files share: placeholder codes and the tokenizer
 * that masks variables (logmine_mask.c) for the template engine (logmine.c).
 *
 * In masked text a placeholder is one byte below 0x20 (its code); the tokenizer turns
 * any such byte of the input into '?', so codes are unambiguous.
 */
#ifndef SONDE_LOGMINE_INTERNAL_H
#define SONDE_LOGMINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

enum {
	LM_PH_WILD = 1, /* <*>: a position whose values varied */
	LM_PH_NUM,
	LM_PH_HEX,
	LM_PH_IP,
	LM_PH_UUID,
	LM_PH_PATH,
	LM_PH_URL,
	LM_PH_EMAIL,
	LM_PH_DUR,
	LM_PH_SIZE,
	LM_PH_TS,
	LM_PH_BLK,
	LM_PH_REQ,
	LM_PH_ID,
	LM_PH_BOOL, /* true, false */
	LM_PH_NULL, /* null, nil */
	LM_PH_COUNT
};

/* "<*>", "<NUM>", ... indexed by code; NULL at 0. */
extern const char *const sonde__logmine_ph_names[LM_PH_COUNT];

/* One token of a masked line. */
typedef struct lm_tok {
	uint64_t h;          /* hash of the masked bytes */
	uint32_t off, len;   /* masked bytes in the scratch buffer */
	uint32_t roff, rlen; /* raw bytes in the message */
	uint8_t word;        /* only letters (and _ -), maybe one trailing , . : ; */
	uint8_t ph;          /* holds a placeholder code */
	uint8_t code1;       /* the code when the token is one placeholder amid punctuation */
	uint8_t varlike;     /* holds a digit or a placeholder: never a route key */
} lm_tok;

/* True when masked bytes p[0..n) hold a letter and no digit or placeholder. */
int sonde__logmine_is_word(const char *p, size_t n);
/* Masks one token raw[0..n) into out (at most n bytes written); returns the length. */
size_t sonde__logmine_mask_token(const char *raw, size_t n, char *out);
/* Tokenizes and masks msg[0..n): writes masked bytes to scratch (room for n bytes) and up
 * to SONDE_LOGMINE_MAX_TOKENS tokens to toks. Returns the token count. */
size_t sonde__logmine_tokenize(const char *msg, size_t n, char *scratch, lm_tok *toks);
/* Parses a NAMED template text back into masked bytes (placeholder names become codes,
 * "<*>" a wild token marked by the single code LM_PH_WILD). Same contract as tokenize. */
size_t sonde__logmine_parse_template(const char *text, size_t n, char *scratch, lm_tok *toks);

#endif
