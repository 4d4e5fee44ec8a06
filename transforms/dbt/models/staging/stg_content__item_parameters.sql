with source as (
    select * from {{ source('content', 'item_parameters') }}
),

renamed as (
    select
        param_id,
        item_id,
        version as param_version,
        calibration_id,
        model as irt_model,
        a,
        b[1] as b,
        c,
        cardinality(b) as threshold_count,
        provenance ->> 'source_snapshot_id' as source_snapshot_id,
        (provenance ->> 'n_responses')::integer as calibration_response_count,
        provenance ->> 'role' as calibration_role,
        (provenance -> 'se' ->> 'a')::double precision as se_a,
        (provenance -> 'se' ->> 'b')::double precision as se_b,
        (provenance -> 'fit' ->> 'value')::double precision as sx2,
        (provenance -> 'fit' ->> 'df')::double precision as sx2_df,
        (provenance -> 'fit' ->> 'p')::double precision as sx2_p,
        is_live,
        created_at,
        promoted_at
    from source
)

select * from renamed
