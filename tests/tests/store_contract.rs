//! The store contract: the same scenarios against the in-memory store and
//! DynamoDB Local, so that the two cannot drift apart (the request-path
//! suite runs over the in-memory store wherever DynamoDB is not at hand,
//! and must see what it would see over DynamoDB). Conditional writes,
//! all-or-nothing transactions, DynamoDB's key size limit, expired items,
//! and the races a conditional write must decide: sign-in attempts, code
//! redemptions and refresh rotations arriving at once.
//!
//! `cargo test` runs the in-memory half; `scripts/test` both.

use std::sync::Arc;

use futures::future::join_all;
use shared::model::{
    AuthorizationCode, Client, ClientAuth, Family, GrantType, RsaPublicJwk, SealedKey, Session, SigningKey,
    SigningKeys, Token, TokenKind, User,
};
use shared::scope::parse_scope;
use shared::secret::{generate_id, generate_secret, sha256_hex};
use shared::store::{
    AdminStore, Attempt, AttemptsOf, ClientChange, Item, Key, Redemption, Revocation, Rotation, Store,
    StoreError, UserChange,
};
use shared::{Clock, DynamoStore, ManualClock, MemoryStore, SharedClock};

/// A store under test and the clock it judges expiry by.
struct Subject<S> {
    store: S,
    clock: Arc<ManualClock>,
}

impl<S> Subject<S> {
    fn now(&self) -> u64 {
        self.clock.now()
    }
}

fn memory() -> Subject<MemoryStore> {
    let clock = Arc::new(ManualClock::new());
    let shared: SharedClock = clock.clone();
    Subject {
        store: MemoryStore::new(shared),
        clock,
    }
}

async fn dynamodb() -> Subject<DynamoStore> {
    let client = integration_tests::dynamo().await;
    let table = integration_tests::fresh_table(&client).await;
    let clock = Arc::new(ManualClock::new());
    let shared: SharedClock = clock.clone();
    Subject {
        store: DynamoStore::new(client, table, shared),
        clock,
    }
}

/// Each scenario, once over each store.
macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::memory()).await
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                #[ignore = "needs DynamoDB Local: scripts/test runs it"]
                async fn $scenario() {
                    super::$scenario(super::dynamodb().await).await
                }
            )*
        }
    };
}

contract!(
    conditional_writes_never_overwrite,
    a_grant_is_written_whole_or_not_at_all,
    oversized_keys_read_as_absent_and_are_refused_on_write,
    expired_items_read_as_absent_but_keep_their_keys,
    concurrent_sign_in_attempts_get_at_most_the_limit,
    concurrent_redemptions_of_a_code_let_one_through,
    concurrent_rotations_let_one_through,
    a_write_retried_after_a_lost_answer_is_its_own,
    slow_secret_checks_are_counted_per_window,
    rehashes_and_revocations_hold_their_conditions,
    signing_keys_change_only_from_the_version_read,
    a_client_and_a_user_read_back_as_written,
    a_registration_changes_only_with_its_token_and_never_comes_back,
    a_metadata_document_client_never_replaces_another,
    a_disabled_metadata_document_client_is_kept_until_enabled,
    device_authorizations_are_decided_once_and_polled_at_their_pace,
);

fn client(id: &str, auth: ClientAuth) -> Client {
    Client {
        client_id: id.to_owned(),
        name: "contract".into(),
        auth,
        grant_types: [GrantType::ClientCredentials].into(),
        scopes: parse_scope("read").unwrap(),
        default_scopes: parse_scope("").unwrap(),
        token_lifetime: None,
        disabled: false,
        created_at: 0,
        redirect_uris: vec!["https://app.example.com/cb".parse().unwrap()],
        skip_consent: false,
        allowed_origins: Vec::new(),
        post_logout_redirect_uris: Vec::new(),
        access_token_format: shared::model::AccessTokenFormat::Opaque,
        resources: Default::default(),
        registration: Default::default(),
    }
}

fn token(client_id: &str, kind: TokenKind, family_id: Option<&str>, now: u64, lifetime: u64) -> Token {
    Token {
        token_hash: sha256_hex(&generate_secret().unwrap()),
        client_id: client_id.to_owned(),
        scope: parse_scope("read").unwrap(),
        issued_at: now,
        expires_at: now + lifetime,
        username: family_id.map(|_| "jdoe".to_owned()),
        kind,
        family_id: family_id.map(str::to_owned),
        rotated_at: None,
        access_hash: None,
        audience: audience(),
    }
}

/// Two resources, so that every item read back shows the audience kept.
fn audience() -> shared::resource::Audience {
    [
        "https://api.example.com/".to_owned(),
        "https://mcp.example.com/mcp".to_owned(),
    ]
    .into()
}

/// A family and its first pair.
fn grant(now: u64) -> (Family, Vec<Token>) {
    let family = Family {
        family_id: generate_id().unwrap(),
        client_id: "app".into(),
        username: "jdoe".into(),
        user_grants_key: "key".into(),
        revoked: false,
        expires_at: now + 1000,
        successor: None,
    };
    let access = token("app", TokenKind::Access, Some(&family.family_id), now, 100);
    let mut refresh = token("app", TokenKind::Refresh, Some(&family.family_id), now, 1000);
    refresh.access_hash = Some(access.token_hash.clone());
    (family, vec![access, refresh])
}

/// The next pair of `family`.
fn next_pair(family: &Family, now: u64) -> Vec<Token> {
    let access = token("app", TokenKind::Access, Some(&family.family_id), now, 100);
    let refresh = token("app", TokenKind::Refresh, Some(&family.family_id), now, 1000);
    vec![access, refresh]
}

fn code(now: u64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: sha256_hex(&generate_secret().unwrap()),
        client_id: "app".into(),
        delivery: shared::model::CodeDelivery::Redirect {
            redirect_uri: "https://app.example.com/cb".into(),
            redirect_uri_sent: false,
            code_challenge: "challenge".into(),
        },
        scope: parse_scope("read").unwrap(),
        audience: audience(),
        username: "jdoe".into(),
        user_grants_key: "key".into(),
        family_id: generate_id().unwrap(),
        issued_at: now,
        expires_at: now + 60,
        redeemed_at: None,
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: now,
        sid: "sid".into(),
    }
}

async fn one<S: Store>(store: &S, key: Key) -> Option<Item> {
    store.load(&[key]).await.unwrap().pop().flatten()
}

async fn conditional_writes_never_overwrite<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let t = token("app", TokenKind::Access, None, now, 100);
    s.store.put_token(&t).await.unwrap();
    let mut other = t.clone();
    other.client_id = "intruder".into();
    assert_eq!(s.store.put_token(&other).await, Err(StoreError::AlreadyExists));
    assert_eq!(
        one(&s.store, Key::Token(t.token_hash.clone())).await,
        Some(Item::Token(t))
    );

    let app = client("app", ClientAuth::Public);
    s.store.create_client(&app).await.unwrap();
    let confidential = client(
        "app",
        ClientAuth::Confidential {
            secret_hash: sha256_hex("s"),
        },
    );
    assert_eq!(
        s.store.create_client(&confidential).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(s.store.get_client("app").await.unwrap(), Some(app));

    let user = User::new("jdoe", "pbkdf2_sha256$1$salt$hash".into(), 0).unwrap();
    s.store.create_user(&user).await.unwrap();
    let impostor = User::new("jdoe", "other".into(), 0).unwrap();
    assert_eq!(
        s.store.create_user(&impostor).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(s.store.get_user("jdoe").await.unwrap(), Some(user));

    let c = code(now);
    s.store.put_code(&c).await.unwrap();
    assert_eq!(s.store.put_code(&c).await, Err(StoreError::AlreadyExists));
    let session = Session {
        session_hash: sha256_hex("cookie"),
        username: "jdoe".into(),
        user_grants_key: "key".into(),
        issued_at: now,
        expires_at: now + 100,
        sid: "sid".into(),
    };
    s.store.put_session(&session).await.unwrap();
    assert_eq!(
        s.store.put_session(&session).await,
        Err(StoreError::AlreadyExists)
    );
}

async fn a_grant_is_written_whole_or_not_at_all<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let (family, tokens) = grant(now);
    // One of its tokens' keys is taken: nothing of the grant is written.
    s.store.put_token(&tokens[1]).await.unwrap();
    assert_eq!(
        s.store.put_grant(&family, &tokens).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(one(&s.store, Key::Family(family.family_id.clone())).await, None);
    assert_eq!(
        one(&s.store, Key::Token(tokens[0].token_hash.clone())).await,
        None
    );
    // Free keys: all of it.
    let (family, tokens) = grant(now);
    s.store.put_grant(&family, &tokens).await.unwrap();
    let keys = [
        Key::Family(family.family_id.clone()),
        Key::Token(tokens[0].token_hash.clone()),
        Key::Token(tokens[1].token_hash.clone()),
    ];
    assert!(s.store.load(&keys).await.unwrap().iter().all(Option::is_some));
}

async fn oversized_keys_read_as_absent_and_are_refused_on_write<S: AdminStore>(s: Subject<S>) {
    let long = "u".repeat(3000);
    let user = User::new("jdoe", "x".into(), 0).unwrap();
    s.store.create_user(&user).await.unwrap();
    // Read: absent, never an error, and the rest of the batch is read.
    let found = s
        .store
        .load(&[
            Key::User(long.clone()),
            Key::User("jdoe".into()),
            Key::Client(long.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(found, vec![None, Some(Item::User(user)), None]);
    // Write: refused as DynamoDB refuses it (a storage failure).
    let too_long = User::new(&long, "x".into(), 0).unwrap();
    assert!(matches!(
        s.store.create_user(&too_long).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        s.store.rehash_password(&long, "x", "y").await,
        Err(StoreError::Unavailable(_))
    ));
    // Attempts are keyed by the username's hash: any username works.
    for who in [
        AttemptsOf::SignIn(long.clone()),
        AttemptsOf::UserCodes(long.clone()),
    ] {
        assert_eq!(
            s.store.reserve_attempt(&who, 5, 900, s.now()).await,
            Ok(Attempt::Granted)
        );
        assert_eq!(s.store.record_failed_attempt(&who, s.now()).await, Ok(1));
        s.store.clear_attempts(&who).await.unwrap();
    }
}

async fn expired_items_read_as_absent_but_keep_their_keys<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let t = token("app", TokenKind::Access, None, now, 10);
    s.store.put_token(&t).await.unwrap();
    let key = Key::Token(t.token_hash.clone());
    s.clock.advance(9);
    assert!(one(&s.store, key.clone()).await.is_some());
    s.clock.advance(1);
    // Expired: gone for every read, though TTL has not deleted it...
    assert_eq!(one(&s.store, key.clone()).await, None);
    assert_eq!(
        s.store.revoke_token(&t.token_hash, "app").await,
        Ok(Revocation::NotFound)
    );
    // ...and its key still taken until then (a conditional write sees it).
    let t = token("app", TokenKind::Access, None, now, 10);
    s.store.put_token(&t).await.unwrap();
    s.clock.advance(10);
    assert_eq!(s.store.put_token(&t).await, Err(StoreError::AlreadyExists));
    // An expired code cannot be redeemed.
    let c = code(s.now());
    s.store.put_code(&c).await.unwrap();
    s.clock.advance(60);
    let (family, tokens) = grant(s.now());
    assert_eq!(
        s.store.redeem_code(&c.code_hash, &family, &tokens, s.now()).await,
        Ok(Redemption::NotFound)
    );
    assert_eq!(one(&s.store, Key::Family(family.family_id)).await, None);
}

async fn concurrent_sign_in_attempts_get_at_most_the_limit<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let jdoe = AttemptsOf::SignIn("jdoe".into());
    let s = &s;
    let reserve = |who: AttemptsOf| async move { s.store.reserve_attempt(&who, 5, 900, s.now()).await };
    let attempts = join_all((0..20).map(|_| s.store.reserve_attempt(&jdoe, 5, 900, now))).await;
    let granted = attempts.iter().filter(|a| **a == Ok(Attempt::Granted)).count();
    let busy = attempts.iter().filter(|a| **a == Ok(Attempt::Busy)).count();
    // Five may be checked; the others wait on their outcome, not locked yet.
    assert_eq!((granted, busy), (5, 15), "{attempts:?}");
    // Five failures fill the window: locked, for its whole length.
    let failures = join_all((0..5).map(|_| s.store.record_failed_attempt(&jdoe, now))).await;
    let mut counts: Vec<u32> = failures.into_iter().map(Result::unwrap).collect();
    counts.sort_unstable();
    assert_eq!(counts, [1, 2, 3, 4, 5]);
    assert_eq!(reserve(jdoe.clone()).await, Ok(Attempt::Locked));
    // Another username is another window, and so are the user codes jdoe enters.
    assert_eq!(
        reserve(AttemptsOf::SignIn("ann".into())).await,
        Ok(Attempt::Granted)
    );
    assert_eq!(
        reserve(AttemptsOf::UserCodes("jdoe".into())).await,
        Ok(Attempt::Granted)
    );
    // The window lasts its length from its first attempt, then a new one opens.
    s.clock.advance(899);
    assert_eq!(reserve(jdoe.clone()).await, Ok(Attempt::Locked));
    s.clock.advance(1);
    assert_eq!(reserve(jdoe.clone()).await, Ok(Attempt::Granted));
    // A success clears the window: attempts in flight meanwhile record nothing.
    s.store.clear_attempts(&jdoe).await.unwrap();
    assert_eq!(s.store.record_failed_attempt(&jdoe, s.now()).await, Ok(0));
    for _ in 0..5 {
        assert_eq!(reserve(jdoe.clone()).await, Ok(Attempt::Granted));
    }
    assert_eq!(reserve(jdoe.clone()).await, Ok(Attempt::Busy));
}

async fn concurrent_redemptions_of_a_code_let_one_through<S: AdminStore>(s: Subject<S>) {
    let c = code(s.now());
    s.store.put_code(&c).await.unwrap();
    let now = s.now();
    let grants: Vec<(Family, Vec<Token>)> = (0..8)
        .map(|_| {
            let (mut family, tokens) = grant(now);
            family.family_id = c.family_id.clone();
            (family, tokens)
        })
        .collect();
    // Every redemption is its own grant (distinct token hashes) of the one
    // family the code chose.
    let results = join_all(
        grants
            .iter()
            .map(|(family, tokens)| s.store.redeem_code(&c.code_hash, family, tokens, now)),
    )
    .await;
    let redeemed = results.iter().filter(|r| **r == Ok(Redemption::Redeemed)).count();
    assert_eq!(redeemed, 1, "{results:?}");
    for r in &results {
        assert!(
            matches!(r, Ok(Redemption::Redeemed))
                || *r
                    == Ok(Redemption::Replayed {
                        family_id: c.family_id.clone()
                    }),
            "{r:?}"
        );
    }
    // The spent code is kept as long as the family, for replay detection.
    s.clock.advance(600);
    match one(&s.store, Key::Code(c.code_hash.clone())).await {
        Some(Item::Code(kept)) => assert!(kept.redeemed_at.is_some()),
        other => panic!("the redeemed code is gone after its lifetime: {other:?}"),
    }
}

async fn concurrent_rotations_let_one_through<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let (family, tokens) = grant(now);
    s.store.put_grant(&family, &tokens).await.unwrap();
    let old = &tokens[1];
    let pairs: Vec<Vec<Token>> = (0..8).map(|_| next_pair(&family, now)).collect();
    let results = join_all(pairs.iter().map(|pair| {
        s.store
            .rotate_refresh(&old.token_hash, None, None, &family, pair, now)
    }))
    .await;
    let rotated = results.iter().filter(|r| **r == Ok(Rotation::Rotated)).count();
    assert_eq!(rotated, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(Rotation::Rotated | Rotation::AlreadyRotated))));
    // A revoked family rotates no more.
    s.store.revoke_family(&family.family_id).await.unwrap();
    let winner = pairs
        .iter()
        .zip(&results)
        .find(|(_, r)| **r == Ok(Rotation::Rotated))
        .unwrap()
        .0;
    assert_eq!(
        s.store
            .rotate_refresh(
                &winner[1].token_hash,
                None,
                None,
                &family,
                &next_pair(&family, now),
                now
            )
            .await,
        Ok(Rotation::FamilyRevoked)
    );
}

async fn a_write_retried_after_a_lost_answer_is_its_own<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let c = code(now);
    s.store.put_code(&c).await.unwrap();
    let (mut family, tokens) = grant(now);
    family.family_id = c.family_id.clone();
    for _ in 0..2 {
        assert_eq!(
            s.store.redeem_code(&c.code_hash, &family, &tokens, now).await,
            Ok(Redemption::Redeemed)
        );
    }
    let (family, tokens) = grant(now);
    s.store.put_grant(&family, &tokens).await.unwrap();
    let pair = next_pair(&family, now);
    for _ in 0..2 {
        assert_eq!(
            s.store
                .rotate_refresh(&tokens[1].token_hash, None, None, &family, &pair, now)
                .await,
            Ok(Rotation::Rotated)
        );
    }
}

async fn slow_secret_checks_are_counted_per_window<S: AdminStore>(s: Subject<S>) {
    let app = client(
        "app",
        ClientAuth::Confidential {
            secret_hash: "pbkdf2_sha256$1$salt$hash".into(),
        },
    );
    s.store.create_client(&app).await.unwrap();
    let claims = join_all((0..5).map(|_| s.store.claim_secret_check("app", 7, 2))).await;
    assert_eq!(claims.iter().filter(|c| **c == Ok(true)).count(), 2, "{claims:?}");
    assert_eq!(s.store.claim_secret_check("app", 8, 2).await, Ok(true));
    // An earlier window never reopens; an unknown client has none.
    assert_eq!(s.store.claim_secret_check("app", 7, 2).await, Ok(false));
    assert_eq!(s.store.claim_secret_check("nobody", 8, 2).await, Ok(false));
}

async fn rehashes_and_revocations_hold_their_conditions<S: AdminStore>(s: Subject<S>) {
    let user = User::new("jdoe", "old".into(), 0).unwrap();
    s.store.create_user(&user).await.unwrap();
    assert_eq!(s.store.rehash_password("jdoe", "stale", "new").await, Ok(false));
    assert_eq!(s.store.rehash_password("jdoe", "old", "new").await, Ok(true));
    assert_eq!(
        s.store.get_user("jdoe").await.unwrap().unwrap().password_hash,
        "new"
    );
    // A new password, disabling and revoking grants each give a new grants key.
    let mut key = user.grants_key.clone();
    for change in [
        UserChange::PasswordHash("newer".into()),
        UserChange::Disabled(true),
        UserChange::RevokeGrants,
    ] {
        let changed = s.store.update_user("jdoe", change).await.unwrap().unwrap();
        assert_ne!(changed.grants_key, key);
        key = changed.grants_key;
    }
    let enabled = s
        .store
        .update_user("jdoe", UserChange::Disabled(false))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(enabled.grants_key, key, "enabling brings no grant back");

    let app = client(
        "app",
        ClientAuth::Confidential {
            secret_hash: "pbkdf2_sha256$1$salt$hash".into(),
        },
    );
    s.store.create_client(&app).await.unwrap();
    assert_eq!(
        s.store.rehash_client_secret("app", "stale", "sha").await,
        Ok(false)
    );
    assert_eq!(
        s.store
            .rehash_client_secret("app", "pbkdf2_sha256$1$salt$hash", "sha")
            .await,
        Ok(true)
    );
    let public = client("spa", ClientAuth::Public);
    s.store.create_client(&public).await.unwrap();
    assert_eq!(s.store.rehash_client_secret("spa", "", "sha").await, Ok(false));
    assert_eq!(
        s.store.get_client("spa").await.unwrap().unwrap().auth,
        ClientAuth::Public
    );

    let t = token("app", TokenKind::Access, None, s.now(), 100);
    s.store.put_token(&t).await.unwrap();
    assert_eq!(
        s.store.revoke_token(&t.token_hash, "other").await,
        Ok(Revocation::NotOwner)
    );
    assert_eq!(
        s.store.revoke_token(&t.token_hash, "app").await,
        Ok(Revocation::Revoked { family_id: None })
    );
    assert_eq!(
        s.store.revoke_token(&t.token_hash, "app").await,
        Ok(Revocation::NotFound)
    );
}

fn signing_key(kid: &str, signs_from: u64, published_until: Option<u64>) -> SigningKey {
    SigningKey {
        kid: kid.into(),
        public: RsaPublicJwk {
            n: "modulus".into(),
            e: "AQAB".into(),
        },
        sealed: SealedKey::Secret {
            ciphertext: "c2VhbGVk".into(),
        },
        created_at: 0,
        signs_from,
        published_until,
        verifies_only: false,
    }
}

/// The key set changes only from the version a writer read (two containers
/// making the first key at once: one wins, the other reads the winner's),
/// and keys no longer published read as absent before anyone removes them.
async fn signing_keys_change_only_from_the_version_read<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let none = s.store.get_signing_keys().await.unwrap();
    assert_eq!(none, SigningKeys::default());
    let first = SigningKeys {
        keys: vec![signing_key("a", now, Some(now + 10)), signing_key("b", now, None)],
        version: 0,
    };
    let rival = SigningKeys {
        keys: vec![signing_key("c", now, None)],
        version: 0,
    };
    let (one, other) = tokio::join!(s.store.put_signing_keys(&first), s.store.put_signing_keys(&rival));
    assert!(
        one.unwrap() ^ other.unwrap(),
        "exactly one of two first writes wins"
    );
    let stored = s.store.get_signing_keys().await.unwrap();
    assert_eq!(stored.version, 1);
    let winner = if stored.keys.len() == 2 { &first } else { &rival };
    assert_eq!(stored.keys, winner.keys);
    // A write based on version 0 again is refused; one based on 1 goes.
    assert!(!s.store.put_signing_keys(&rival).await.unwrap());
    assert!(s.store.put_signing_keys(&stored).await.unwrap());
    assert!(
        !s.store.put_signing_keys(&stored).await.unwrap(),
        "version 1 is spent"
    );
    assert_eq!(s.store.get_signing_keys().await.unwrap().version, 2);

    let both = SigningKeys {
        keys: vec![signing_key("a", now, Some(now + 10)), signing_key("b", now, None)],
        version: 2,
    };
    assert!(s.store.put_signing_keys(&both).await.unwrap());
    s.clock.advance(10);
    let read = s.store.get_signing_keys().await.unwrap();
    assert_eq!(
        read.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["b"],
        "a is unpublished"
    );
    assert_eq!(read.version, 3);
}

/// Every attribute of a client and a user survives the store: none is
/// dropped on the way in or out.
async fn a_client_and_a_user_read_back_as_written<S: AdminStore>(s: Subject<S>) {
    let mut full = client(
        "full",
        ClientAuth::Confidential {
            secret_hash: sha256_hex("secret"),
        },
    );
    full.grant_types = [GrantType::AuthorizationCode, GrantType::ClientCredentials].into();
    full.scopes = parse_scope("openid read").unwrap();
    full.default_scopes = parse_scope("read").unwrap();
    full.token_lifetime = Some(600);
    full.created_at = 7;
    full.skip_consent = true;
    full.allowed_origins = vec![shared::origin::Origin::parse("https://spa.example.com").unwrap()];
    full.post_logout_redirect_uris = vec!["https://spa.example.com/bye".parse().unwrap()];
    full.access_token_format = shared::model::AccessTokenFormat::Jwt;
    full.resources = [
        "https://mcp.example.com/mcp".to_owned(),
        "urn:example:api".to_owned(),
    ]
    .into();
    s.store.create_client(&full).await.unwrap();
    assert_eq!(s.store.get_client("full").await.unwrap(), Some(full));

    let mut user = User::new("jane", "pbkdf2_sha256$1$salt$hash".into(), 9).unwrap();
    user.profile = shared::model::UserProfile {
        first_name: "Jane".into(),
        last_name: "Doe".into(),
        email: "jane@example.com".into(),
        email_verified: true,
    };
    s.store.create_user(&user).await.unwrap();
    assert_eq!(s.store.get_user("jane").await.unwrap(), Some(user));
}

/// RFC 7591/7592's writes: a registered client is replaced or deleted only
/// with its registration access token's hash; once expired it is gone to
/// reads, lists, updates and renewals alike (before DynamoDB's TTL deletes it).
async fn a_registration_changes_only_with_its_token_and_never_comes_back<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let registered = |id: &str, hash: &str, expires_at: u64| {
        let mut c = client(id, ClientAuth::Public);
        c.registration = shared::model::Registration::Dynamic {
            access_token_hash: hash.into(),
            expires_at,
        };
        c
    };
    let first = registered("reg1", "hash1", now + 100);
    s.store.register_client(&first).await.unwrap();
    assert_eq!(
        s.store.register_client(&first).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(s.store.get_client("reg1").await.unwrap(), Some(first.clone()));

    let mut renamed = first.clone();
    renamed.name = "renamed".into();
    assert!(!s
        .store
        .replace_registered_client(&renamed, "hash2", now)
        .await
        .unwrap());
    assert!(s
        .store
        .replace_registered_client(&renamed, "hash1", now)
        .await
        .unwrap());
    assert_eq!(s.store.get_client("reg1").await.unwrap(), Some(renamed.clone()));
    // An administered client is no registration.
    s.store
        .create_client(&client("admin", ClientAuth::Public))
        .await
        .unwrap();
    assert!(!s.store.delete_registered_client("admin", "hash1").await.unwrap());
    s.store
        .renew_registered_client("admin", now + 1000, now)
        .await
        .unwrap();
    assert_eq!(
        s.store.get_client("admin").await.unwrap(),
        Some(client("admin", ClientAuth::Public))
    );

    // Renewed, it lives on; expired, it is gone and stays gone.
    s.store
        .renew_registered_client("reg1", now + 200, now)
        .await
        .unwrap();
    s.clock.advance(150);
    let renewed = s.store.get_client("reg1").await.unwrap().expect("renewed");
    assert_eq!(
        renewed.registration,
        shared::model::Registration::Dynamic {
            access_token_hash: "hash1".into(),
            expires_at: now + 200
        }
    );
    let later = s.now();
    let short = registered("reg2", "hash2", later + 10);
    s.store.register_client(&short).await.unwrap();
    s.clock.advance(20);
    let gone_at = s.now();
    assert_eq!(s.store.get_client("reg2").await.unwrap(), None);
    assert!(!s
        .store
        .list_clients()
        .await
        .unwrap()
        .iter()
        .any(|c| c.client_id == "reg2"));
    s.store
        .renew_registered_client("reg2", gone_at + 1000, gone_at)
        .await
        .unwrap();
    assert!(!s
        .store
        .replace_registered_client(&short, "hash2", gone_at)
        .await
        .unwrap());
    assert_eq!(
        s.store.get_client("reg2").await.unwrap(),
        None,
        "never brought back"
    );

    assert!(!s.store.delete_registered_client("reg1", "hash2").await.unwrap());
    assert!(s.store.delete_registered_client("reg1", "hash1").await.unwrap());
    assert_eq!(s.store.get_client("reg1").await.unwrap(), None);
}

/// A client known by its metadata document is stored, and stored again
/// when fetched again, but never over a client registered otherwise nor
/// over one an administrator disabled; it reads back as written, expires
/// unused as a registration does, and an expired one is replaced.
async fn a_metadata_document_client_never_replaces_another<S: AdminStore>(s: Subject<S>) {
    let now = s.now();
    let documented = |id: &str, name: &str, fresh_until: u64, expires_at: u64| {
        let mut c = client(id, ClientAuth::Public);
        c.name = name.into();
        c.grant_types = [GrantType::AuthorizationCode, GrantType::RefreshToken].into();
        c.registration = shared::model::Registration::MetadataDocument {
            fresh_until,
            expires_at,
        };
        c
    };
    let url = "https://app.example.com/oauth/client.json";
    let first = documented(url, "first", now + 60, now + 100);
    assert!(s.store.put_metadata_document_client(&first).await.unwrap());
    assert_eq!(s.store.get_client(url).await.unwrap(), Some(first.clone()));
    let again = documented(url, "fetched again", now + 600, now + 1000);
    assert!(s.store.put_metadata_document_client(&again).await.unwrap());
    assert_eq!(s.store.get_client(url).await.unwrap(), Some(again.clone()));
    assert!(s.store.list_clients().await.unwrap().contains(&again));

    // An administrator's client with such an id, or a disabled document's, stands.
    let theirs = "https://admin.example.com/client.json";
    s.store
        .create_client(&client(theirs, ClientAuth::Public))
        .await
        .unwrap();
    assert!(!s
        .store
        .put_metadata_document_client(&documented(theirs, "impostor", now + 60, now + 100))
        .await
        .unwrap());
    assert_eq!(
        s.store.get_client(theirs).await.unwrap(),
        Some(client(theirs, ClientAuth::Public))
    );
    s.store
        .update_client(url, shared::store::ClientChange::Disable)
        .await
        .unwrap();
    assert!(!s
        .store
        .put_metadata_document_client(&documented(url, "re-enabled?", now + 60, now + 100))
        .await
        .unwrap());
    let disabled = s.store.get_client(url).await.unwrap().unwrap();
    assert!(disabled.disabled && disabled.name == "fetched again");

    // Unused, it expires as a registration does; expired, it is replaced.
    let short_url = "https://short.example.com/client.json";
    let short = documented(short_url, "short", now + 5, now + 10);
    assert!(s.store.put_metadata_document_client(&short).await.unwrap());
    s.store
        .renew_registered_client(short_url, now + 20, now)
        .await
        .unwrap();
    s.clock.advance(15);
    assert!(s.store.get_client(short_url).await.unwrap().is_some(), "renewed");
    s.clock.advance(10);
    let later = s.now();
    assert_eq!(s.store.get_client(short_url).await.unwrap(), None);
    let back = documented(short_url, "back", later + 60, later + 100);
    assert!(s.store.put_metadata_document_client(&back).await.unwrap());
    assert_eq!(s.store.get_client(short_url).await.unwrap(), Some(back));
}

/// An administrator's ban on a client known by its metadata document
/// outlives the unused lifetime after which its document would be fetched
/// afresh (and the client come back enabled): disabled, it is kept, and
/// use does not shorten that; enabled, it is stale (fetched afresh at its
/// next use) and expires unused again. Any other client only changes state.
async fn a_disabled_metadata_document_client_is_kept_until_enabled<S: AdminStore>(s: Subject<S>) {
    use shared::model::{Registration::MetadataDocument, NEVER};
    let now = s.now();
    let url = "https://banned.example.com/client.json";
    let documented = |fresh_until: u64, expires_at: u64| {
        let mut c = client(url, ClientAuth::Public);
        c.registration = MetadataDocument {
            fresh_until,
            expires_at,
        };
        c
    };
    assert!(s
        .store
        .put_metadata_document_client(&documented(now + 60, now + 100))
        .await
        .unwrap());
    let banned = s
        .store
        .update_client(url, ClientChange::Disable)
        .await
        .unwrap()
        .unwrap();
    assert!(banned.disabled);
    assert_eq!(
        banned.registration,
        MetadataDocument {
            fresh_until: now + 60,
            expires_at: NEVER
        }
    );
    s.store
        .renew_registered_client(url, now + 200, now)
        .await
        .unwrap();
    s.clock.advance(10_000);
    assert_eq!(
        s.store.get_client(url).await.unwrap(),
        Some(banned.clone()),
        "kept"
    );
    let later = s.now();
    assert!(!s
        .store
        .put_metadata_document_client(&documented(later + 60, later + 100))
        .await
        .unwrap());

    let enabled = s
        .store
        .update_client(
            url,
            ClientChange::Enable {
                document_expires_at: later + 100,
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(
        enabled.registration,
        MetadataDocument {
            fresh_until: 0,
            expires_at: later + 100
        }
    );
    assert_eq!(s.store.get_client(url).await.unwrap(), Some(enabled));
    s.clock.advance(101);
    assert_eq!(
        s.store.get_client(url).await.unwrap(),
        None,
        "expires unused again"
    );

    let administered = client("administered", ClientAuth::Public);
    s.store.create_client(&administered).await.unwrap();
    let disabled = s
        .store
        .update_client("administered", ClientChange::Disable)
        .await
        .unwrap();
    assert_eq!(
        disabled,
        Some(Client {
            disabled: true,
            ..administered.clone()
        })
    );
    let enabled = s
        .store
        .update_client(
            "administered",
            ClientChange::Enable {
                document_expires_at: later + 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(enabled, Some(administered));
    assert_eq!(
        s.store
            .update_client("nobody", ClientChange::Disable)
            .await
            .unwrap(),
        None
    );
}

fn device(now: u64, user_code_hash: &str) -> shared::model::DeviceAuthorization {
    shared::model::DeviceAuthorization {
        device_code_hash: sha256_hex(&generate_secret().unwrap()),
        user_code_hash: user_code_hash.to_owned(),
        client_id: "tv".into(),
        scope: parse_scope("read write").unwrap(),
        audience: audience(),
        status: shared::model::DeviceStatus::Pending,
        interval: 5,
        next_poll_at: now,
        issued_at: now,
        usable_until: now + 600,
        expires_at: now + 600 + 3600,
    }
}

fn device_code(device: &shared::model::DeviceAuthorization, now: u64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: device.device_code_hash.clone(),
        delivery: shared::model::CodeDelivery::Device,
        client_id: device.client_id.clone(),
        expires_at: device.usable_until,
        nonce: None,
        ..code(now)
    }
}

/// RFC 8628's writes: a device authorization and its user code are stored
/// together or not at all, never over a live user code; polls are counted
/// at most once per interval (concurrent polls: one counted), each poll
/// too soon lengthens the interval by 5 s; a decision is taken once (of
/// concurrent approvals and denials, exactly one), only while usable, and
/// an approval stores the code the device redeems; every item reads back
/// as written.
async fn device_authorizations_are_decided_once_and_polled_at_their_pace<S: AdminStore>(s: Subject<S>) {
    use shared::model::DeviceStatus;
    use shared::store::Poll;
    let now = s.now();
    let first = device(now, "user-code-1");
    s.store.put_device_authorization(&first).await.unwrap();
    assert_eq!(
        one(&s.store, Key::Device(first.device_code_hash.clone())).await,
        Some(Item::Device(first.clone()))
    );
    assert!(matches!(
        one(&s.store, Key::UserCode("user-code-1".into())).await,
        Some(Item::UserCode(c)) if c.device_code_hash == first.device_code_hash && c.expires_at == first.usable_until
    ));
    // The same user code again: refused, and nothing of the second stored.
    let clash = device(now, "user-code-1");
    assert_eq!(
        s.store.put_device_authorization(&clash).await,
        Err(StoreError::AlreadyExists)
    );
    assert_eq!(
        one(&s.store, Key::Device(clash.device_code_hash.clone())).await,
        None
    );

    // Concurrent polls: one counted, the others told to slow down.
    let polls = join_all((0..6).map(|_| s.store.poll_device(&first.device_code_hash, now))).await;
    let counted = polls.iter().filter(|p| **p == Ok(Poll::Pending)).count();
    let slowed = polls.iter().filter(|p| **p == Ok(Poll::SlowDown)).count();
    assert_eq!((counted, slowed), (1, 5), "{polls:?}");
    let Some(Item::Device(polled)) = one(&s.store, Key::Device(first.device_code_hash.clone())).await else {
        panic!("the device authorization is there")
    };
    assert_eq!(
        (polled.interval, polled.next_poll_at),
        (30, now + 30),
        "each of five polls too soon adds 5 s"
    );
    // At its pace: counted.
    s.clock.advance(polled.interval);
    assert_eq!(
        s.store.poll_device(&first.device_code_hash, s.now()).await,
        Ok(Poll::Pending)
    );
    assert_eq!(
        s.store.poll_device("no-such-device", s.now()).await,
        Ok(Poll::NotFound)
    );

    // Concurrent decisions: one stands.
    let approval = device_code(&first, s.now());
    let decisions = join_all([
        s.store
            .decide_device(&first.device_code_hash, Some(&approval), s.now()),
        s.store.decide_device(&first.device_code_hash, None, s.now()),
        s.store
            .decide_device(&first.device_code_hash, Some(&approval), s.now()),
    ])
    .await;
    assert_eq!(
        decisions.iter().filter(|d| **d == Ok(true)).count(),
        1,
        "{decisions:?}"
    );
    let Some(Item::Device(decided)) = one(&s.store, Key::Device(first.device_code_hash.clone())).await else {
        panic!("the device authorization is there")
    };
    let stored_code = one(&s.store, Key::Code(first.device_code_hash.clone())).await;
    match decided.status {
        DeviceStatus::Approved => assert_eq!(stored_code, Some(Item::Code(approval.clone()))),
        DeviceStatus::Denied => assert_eq!(stored_code, None),
        DeviceStatus::Pending => panic!("decided"),
    }
    assert_eq!(
        s.store.poll_device(&first.device_code_hash, s.now() + 100).await,
        Ok(Poll::Decided(decided.status))
    );

    // No decision once unusable.
    let late = device(s.now(), "user-code-2");
    s.store.put_device_authorization(&late).await.unwrap();
    s.clock.advance(600);
    assert_eq!(
        s.store
            .decide_device(
                &late.device_code_hash,
                Some(&device_code(&late, s.now())),
                s.now()
            )
            .await,
        Ok(false)
    );
    assert_eq!(
        one(&s.store, Key::Code(late.device_code_hash.clone())).await,
        None
    );
    assert_eq!(
        one(&s.store, Key::UserCode("user-code-2".into())).await,
        None,
        "expired"
    );
}
